/**
 * tsgrad: tensors with reverse-mode autograd whose every op is a gpu.js kernel.
 * @example
 * import { tensor, crossEntropy } from 'tsgrad';
 * const w = tensor([[0.1, -0.2], [0.3, 0.4]], undefined, { requiresGrad: true });
 * const x = tensor([[1, 2]]);
 * const loss = crossEntropy(x.matmul(w), tensor([1], [1], { dtype: 'int32' }));
 * loss.backward();
 * console.log(await w.grad!.toArray());
 */
export { Tensor, setCheckNaN, type BackwardOpts, type DType, type TensorLike } from './tensor.js';
export { arange, full, ones, rand, randint, randn, tensor, zeros, type RandomOpts, type TensorOpts } from './creation.js';
export { backward, grad, isGradEnabled, noGrad, setGradEnabled } from './autograd.js';
export { destroyDevices, device, getDevice, initDevice, probeWebGpu, setDevice, setGemmWorker, setKernelOverride, setThreads, DEVICE_NAMES, type Device, type DeviceName } from './device.js';
export { setBufferPool } from './pool.js';
export { gradcheck, type GradcheckOpts, type GradcheckReport } from './gradcheck.js';
export { Generator, globalGenerator, manualSeed } from './rng.js';
export { kernel, type GridKernelSpec, type KernelSpec, type KernelThis } from './kernel.js';
export { formatProfile, isProfiling, profile, profileElapsed, startProfile, stopProfile, type ProfileRow } from './profile.js';
export {
  decodeSafetensors, encodeSafetensors, loadSafetensors, saveSafetensors,
  type SafetensorsDType, type SafetensorsFile, type SafetensorsInput, type SafetensorsTensor,
} from './safetensors.js';
export * from '../ops/index.js';
