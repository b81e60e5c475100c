/**
 * The gradient panel's HTML from an OpCheck: shapes, forward values (device vs float64), a table of the
 * gradient beside the finite differences, and the gradcheck verdict.
 * @example
 * panel.innerHTML = opCheckHtml(await checkOp('gelu', 1, 'webasm'));
 */
import type { OpCheck } from './op-check.js';

const number = (v: number) => (Number.isFinite(v) ? v.toPrecision(6) : String(v));
const shape = (s: number[]) => `[${s.join(', ')}]`;
const escape = (s: string) => s.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!);

export function opCheckHtml(c: OpCheck): string {
  const shown = Math.min(6, c.forwardOnDevice.length);
  const forward = c.forwardOnDevice.slice(0, shown).map(number).join(', ');
  const forward64 = c.forwardFloat64.slice(0, shown).map(number).join(', ');
  const more = c.forwardOnDevice.length > shown ? ', …' : '';
  const rows = c.rows
    .map((r) => `<tr><td>${r.index}</td><td>${number(r.input)}</td><td>${number(r.gradientOnDevice)}</td><td>${number(r.gradientFloat64)}</td><td>${number(r.finiteDifference)}</td><td>${Math.abs(r.gradientFloat64 - r.finiteDifference).toExponential(1)}</td></tr>`)
    .join('');
  const verdict = c.gradcheck.ok ? '<span class="ok">gradcheck passed</span>' : '<span class="bad">gradcheck FAILED</span>';
  const agree = c.deviceAgrees ? '<span class="ok">within tolerance</span>' : '<span class="bad">outside tolerance</span>';
  return `
    <div>${escape(c.op)} on inputs ${c.inputShapes.map(shape).join(' and ')} → ${shape(c.outputShape)}; L = sum(c · ${escape(c.op)}(x)) with fixed random c; rows: d L / d input ${c.wrt}</div>
    <div>forward on ${c.device}: ${forward}${more}</div>
    <div>forward in float64: ${forward64}${more}</div>
    <table><tr><th>i</th><th>x[i]</th><th>grad (${c.device})</th><th>grad (float64)</th><th>finite diff.</th><th>|float64 − f.d.|</th></tr>${rows}</table>
    <div>${c.device} vs float64: forward ${c.forwardError.toExponential(1)}, gradient ${c.gradientError.toExponential(1)} (allowed ${c.tolerance.bwd.atol} + ${c.tolerance.bwd.rtol}·|g|): ${agree}</div>
    <div id="gradcheck-verdict" data-ok="${c.gradcheck.ok}">${verdict}: ${escape(c.gradcheck.message.replace(/^gradcheck (passed|FAILED) /, ''))}</div>`;
}
