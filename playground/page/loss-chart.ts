/**
 * The loss curve: every step's loss (faint) and its running mean (bold) on a canvas, with a dashed line where
 * the device was switched.
 * @example
 * const chart = new LossChart(canvas);
 * chart.add(1, 4.01); chart.draw();
 */
export class LossChart {
  private readonly points: { step: number; loss: number }[] = [];
  private readonly switches: { step: number; label: string }[] = [];

  constructor(private readonly canvas: HTMLCanvasElement) {}

  add(step: number, loss: number): void {
    this.points.push({ step, loss });
  }
  markSwitch(step: number, label: string): void {
    this.switches.push({ step, label });
  }

  draw(): void {
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const { width, height } = this.canvas;
    const pad = { left: 44, right: 10, top: 10, bottom: 24 };
    ctx.clearRect(0, 0, width, height);
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = '#666';
    if (this.points.length === 0) {
      ctx.fillText('the loss appears here once training starts', pad.left, height / 2);
      return;
    }
    const losses = this.points.map((p) => p.loss);
    const lo = Math.min(...losses);
    const hi = Math.max(...losses);
    const span = hi - lo || 1;
    const lastStep = Math.max(this.points[this.points.length - 1].step, 10);
    const x = (step: number) => pad.left + ((width - pad.left - pad.right) * step) / lastStep;
    const y = (loss: number) => pad.top + ((height - pad.top - pad.bottom) * (hi - loss)) / span;

    ctx.strokeStyle = '#ccc';
    ctx.beginPath();
    ctx.moveTo(pad.left, pad.top);
    ctx.lineTo(pad.left, height - pad.bottom);
    ctx.lineTo(width - pad.right, height - pad.bottom);
    ctx.stroke();
    ctx.fillText(hi.toFixed(2), 4, pad.top + 8);
    ctx.fillText(lo.toFixed(2), 4, height - pad.bottom);
    ctx.fillText(`step ${lastStep}`, width - pad.right - 60, height - 6);

    for (const s of this.switches) {
      ctx.strokeStyle = '#999';
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(x(s.step), pad.top);
      ctx.lineTo(x(s.step), height - pad.bottom);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillText(s.label, x(s.step) + 3, pad.top + 10);
    }

    ctx.strokeStyle = 'rgba(40, 90, 200, 0.3)';
    ctx.beginPath();
    this.points.forEach((p, i) => (i === 0 ? ctx.moveTo(x(p.step), y(p.loss)) : ctx.lineTo(x(p.step), y(p.loss))));
    ctx.stroke();

    ctx.strokeStyle = 'rgb(40, 90, 200)';
    ctx.lineWidth = 2;
    ctx.beginPath();
    let mean = this.points[0].loss;
    this.points.forEach((p, i) => {
      mean = i === 0 ? p.loss : 0.9 * mean + 0.1 * p.loss;
      if (i === 0) ctx.moveTo(x(p.step), y(mean));
      else ctx.lineTo(x(p.step), y(mean));
    });
    ctx.stroke();
    ctx.lineWidth = 1;
  }
}
