/**
 * The page's model and its training step: a tiny character-level transformer (tsgrad's nn.TransformerLM)
 * trained with AdamW on random windows of the text, on whichever device is current. `moveTo` carries the
 * weights and the optimizer's moments to another device, so training goes on where it left off.
 * @example
 * const trainer = new Trainer(new CharText(text), PAGE_MODEL);
 * const { loss, tokensPerSecond } = await trainer.step();
 */
import { Generator, getDevice, noGrad, setDevice, Tensor } from '../../core/index.js';
import { AdamW, clipGradNorm, sampleToken, TransformerLM } from '../../nn/index.js';
import type { CharText } from './char-text.js';

export interface PageModelConfig {
  contextLength: number;
  dModel: number;
  nHeads: number;
  nLayers: number;
  batch: number;
  learningRate: number;
  seed: number;
}

/** Small enough for a step in tens of milliseconds on one CPU core. */
export const PAGE_MODEL: PageModelConfig = { contextLength: 32, dModel: 32, nHeads: 4, nLayers: 2, batch: 8, learningRate: 3e-3, seed: 0 };

export interface StepResult {
  step: number;
  loss: number;
  milliseconds: number;
  tokensPerSecond: number;
}

export class Trainer {
  model: TransformerLM;
  private optimizer: AdamW;
  private readonly batches: Generator;
  private readonly sampling: Generator;
  stepCount = 0;

  constructor(readonly text: CharText, readonly config: PageModelConfig) {
    this.model = this.build();
    this.optimizer = new AdamW(this.model.namedParameters(), { lr: config.learningRate });
    this.batches = new Generator(config.seed + 1);
    this.sampling = new Generator(config.seed + 2);
  }

  private build(): TransformerLM {
    const c = this.config;
    return new TransformerLM({ vocabSize: this.text.vocabSize, contextLength: c.contextLength, dModel: c.dModel, nHeads: c.nHeads, nLayers: c.nLayers, seed: c.seed });
  }

  get parameterCount(): number {
    return this.model.numParameters();
  }

  /** One AdamW step on a fresh random batch; resolves when the loss has been read back. */
  async step(): Promise<StepResult> {
    const c = this.config;
    const started = performance.now();
    const { inputs, targets } = this.text.batch(c.batch, c.contextLength, this.batches);
    const dev = getDevice();
    const x = Tensor.fromValues(inputs, [c.batch, c.contextLength], dev, 'int32');
    const y = Tensor.fromValues(targets, [c.batch, c.contextLength], dev, 'int32');
    const loss = this.model.loss(x, y);
    loss.backward();
    clipGradNorm(this.model.parameters(), 1);
    this.optimizer.step();
    this.optimizer.zeroGrad();
    const value = await loss.item();
    const milliseconds = performance.now() - started;
    this.stepCount++;
    return { step: this.stepCount, loss: value, milliseconds, tokensPerSecond: (c.batch * c.contextLength * 1000) / milliseconds };
  }

  /**
   * Continue `batch` random windows of the text by `length` characters each, drawn with temperature 0.8 from
   * the 10 likeliest. Each new character comes from a forward pass over the last `contextLength` characters
   * of every row: the very shapes training uses, so sampling compiles no new kernels (on webasm in a browser,
   * where each compiled kernel holds a WebAssembly memory and only ~120 can be alive, that matters).
   */
  async sample(length: number): Promise<{ prompt: string; continuation: string }[]> {
    const c = this.config;
    const rows = this.text.batch(c.batch, c.contextLength, this.sampling).inputs;
    const windows = Array.from({ length: c.batch }, (_, b) => rows.slice(b * c.contextLength, (b + 1) * c.contextLength));
    const added: number[][] = windows.map(() => []);
    this.model.eval();
    try {
      for (let k = 0; k < length; k++) {
        const ids = Tensor.fromValues(windows.flat(), [c.batch, c.contextLength], getDevice(), 'int32');
        const logits = await noGrad(() => this.model.forward(ids)).toArray();
        const vocab = this.text.vocabSize;
        windows.forEach((w, b) => {
          const last = (b * c.contextLength + c.contextLength - 1) * vocab;
          const next = sampleToken(logits.slice(last, last + vocab), { temperature: 0.8, topK: 10, generator: this.sampling });
          w.shift();
          w.push(next);
          added[b].push(next);
        });
      }
    } finally {
      this.model.train();
    }
    return added.map((ids, b) => ({ prompt: this.text.decode(rows.slice(b * c.contextLength, (b + 1) * c.contextLength)), continuation: this.text.decode(ids) }));
  }

  /** Make `name` the current device and carry the weights and optimizer state over to it. */
  moveTo(name: string, why: string): void {
    const weights = this.model.stateDict();
    const moments = this.optimizer.stateDict();
    setDevice(name, why);
    this.model = this.build();
    this.model.loadStateDict(weights);
    this.optimizer = new AdamW(this.model.namedParameters(), { lr: this.config.learningRate });
    this.optimizer.loadStateDict(moments);
  }
}
