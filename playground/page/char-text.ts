/**
 * Character-level text for the page's language model: the vocabulary is the text's distinct characters, and a
 * batch is random windows of `context + 1` characters (inputs and next-character targets).
 * @example
 * const text = new CharText('hello world');
 * text.decode(text.encode('hello')) === 'hello';
 */
import { Generator } from '../../core/index.js';

export class CharText {
  readonly chars: string[];
  readonly ids: Int32Array;
  private readonly index: Map<string, number>;

  constructor(readonly text: string) {
    this.chars = [...new Set(text)].sort();
    this.index = new Map(this.chars.map((c, i) => [c, i]));
    this.ids = Int32Array.from(text, (c) => this.index.get(c)!);
  }
  get vocabSize(): number {
    return this.chars.length;
  }
  encode(s: string): number[] {
    return Array.from(s, (c) => {
      const id = this.index.get(c);
      if (id === undefined) throw new Error(`CharText.encode: character ${JSON.stringify(c)} is not in the text's vocabulary`);
      return id;
    });
  }
  decode(ids: ArrayLike<number>): string {
    return Array.from(ids, (id) => this.chars[id] ?? '?').join('');
  }
  /** `batch` random windows: inputs [batch, context] and targets shifted by one, as flat id arrays. */
  batch(batch: number, context: number, gen: Generator): { inputs: number[]; targets: number[] } {
    const inputs: number[] = [];
    const targets: number[] = [];
    for (let b = 0; b < batch; b++) {
      const start = gen.int(this.ids.length - context - 1);
      for (let t = 0; t < context; t++) {
        inputs.push(this.ids[start + t]);
        targets.push(this.ids[start + t + 1]);
      }
    }
    return { inputs, targets };
  }
}
