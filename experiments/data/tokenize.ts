/**
 * Word-level tokenisation shared by every corpus of the project.
 *
 * Two entry points, one convention (the Brown corpus's):
 * - `parseTagged` reads the POS-tagged Brown text (`word/TAG` tokens separated by whitespace): the tag
 *   after the LAST slash is dropped (`1/2/cd` -> `1/2`), the word lowercased, punctuation tokens kept.
 * - `tokenizeText` splits raw running text (e.g. State of the Union addresses) into tokens that follow
 *   the Brown convention as closely as is reasonable:
 *   - lowercased; punctuation `, ; : ? ! ( ) [ ] { }` split off as tokens of their own;
 *   - double quotes become Brown's `` (opening) and '' (closing), curly quotes likewise;
 *   - dashes (`--`, em and en dashes between spaces or words) become the token `--`;
 *   - an ellipsis `...` becomes three `.` tokens (Brown has no `...` token);
 *   - a final `.` is split off unless the word is an abbreviation Brown keeps whole (`mr.`, `dr.`,
 *     `etc.`, single-letter initials, dotted forms like `u.s.` or `p.m.`); a sentence that ends with such
 *     an abbreviation therefore lacks its own `.` token (Brown does the same);
 *   - contractions and possessives stay attached (`don't`, `it's`, `nation's`, `parents'`), as in Brown;
 *   - hyphenated words, numbers with commas, `$` and `%` stay whole (`$1,000`, `40%`, `well-being`).
 *   Not perfect: a leading apostrophe used as a quote (`'word'`) is split off, `'em`-style elisions are
 *   kept only for the few forms listed in `ELISIONS`, and no attempt is made to tell an abbreviation at
 *   the end of a sentence from one inside it.
 */

/** Abbreviations that Brown keeps together with their final period (lowercase, without the period). */
const ABBREVIATIONS = new Set([
  'mr', 'mrs', 'ms', 'messrs', 'dr', 'st', 'jr', 'sr', 'etc', 'fig', 'co', 'inc', 'corp', 'ltd', 'bros',
  'jan', 'feb', 'aug', 'sept', 'oct', 'nov', 'dec', 'gen', 'gov', 'sen', 'rep', 'rev', 'hon', 'prof',
  'capt', 'col', 'lt', 'sgt', 'mt', 'ft', 'vs', 'lb', 'sec', 'ave', 'dept', 'esq',
]);

/** Words that start with an apostrophe and keep it (Brown: 'em, 'im, 'round, '61). */
const ELISIONS = /^'(em|im|round|tis|twas|\d\d)$/i;

/** Trailing characters that always form their own token. */
const TRAILING = new Set([',', ';', ':', '?', '!', ')', ']', '}']);
/** Leading characters that always form their own token. */
const LEADING = new Set(['(', '[', '{']);

/**
 * Strips the POS tag of one Brown token (everything after its LAST slash) and lowercases the word.
 * A token without a slash is only lowercased.
 *
 * @example stripTag('1/2/CD') === '1/2'; stripTag('The/at') === 'the'
 */
export function stripTag(token: string): string {
  const cut = token.lastIndexOf('/');
  return (cut > 0 ? token.slice(0, cut) : token).toLowerCase();
}

/**
 * Reads POS-tagged Brown text into lowercased word tokens, in order, punctuation kept.
 *
 * @param text the content of one Brown file (`word/TAG` tokens separated by any whitespace)
 */
export function parseTagged(text: string): string[] {
  const out: string[] = [];
  for (const tok of text.split(/\s+/)) if (tok.length > 0) out.push(stripTag(tok));
  return out;
}

/** Replaces typographic quotes and dashes with the ASCII forms the splitter understands. */
function normalise(text: string): string {
  return text
    .replace(/[\u2018\u2019\u02bc]/g, "'")
    .replace(/\u201c/g, ' `` ')
    .replace(/\u201d/g, " '' ")
    .replace(/\s*[\u2014\u2013]\s*|\s*--+\s*/g, ' -- ')
    .replace(/(^|[\s([{])"/g, '$1 `` ')
    .replace(/"/g, " '' ")
    .replace(/\.\.\.+/g, ' . . . ');
}

/** Splits one whitespace-free chunk into Brown-style tokens (not yet lowercased). */
function splitChunk(chunk: string, out: string[]): void {
  const tail: string[] = [];
  let s = chunk;
  if (s === "''" || s === '``') {
    out.push(s);
    return;
  }
  // Leading punctuation.
  for (;;) {
    if (s.length > 1 && LEADING.has(s[0])) {
      out.push(s[0]);
      s = s.slice(1);
    } else if (s.length > 1 && s[0] === "'" && !ELISIONS.test(s.replace(/[^\w']+$/, ''))) {
      out.push("'");
      s = s.slice(1);
    } else break;
  }
  // Trailing punctuation, collected right to left.
  for (;;) {
    if (s.length <= 1) break;
    const last = s[s.length - 1];
    if (TRAILING.has(last)) {
      tail.push(last);
      s = s.slice(0, -1);
    } else if (last === "'" && s[s.length - 2] !== 's') {
      tail.push("'");
      s = s.slice(0, -1);
    } else if (last === '.' && !keepsPeriod(s)) {
      tail.push('.');
      s = s.slice(0, -1);
    } else break;
  }
  if (s.length > 0) out.push(s);
  for (let i = tail.length - 1; i >= 0; i--) out.push(tail[i]);
}

/** Whether a word ending in `.` keeps it (abbreviation, initial, dotted form like `u.s.`). */
function keepsPeriod(word: string): boolean {
  const stem = word.slice(0, -1);
  if (/^[A-Z]$/.test(stem)) return true; // initial: "J."
  if (/^[a-z](\.[a-z])+$/i.test(stem)) return true; // "U.S", "p.m", "i.e"
  return ABBREVIATIONS.has(stem.toLowerCase());
}

/**
 * Tokenises raw running text with the Brown convention (see the module comment for the exact rules):
 * lowercase, punctuation split off, contractions and possessives kept whole.
 *
 * @example tokenizeText('"We don\'t," he said.') // ['``', 'we', "don't", ',', "''", 'he', 'said', '.']
 */
export function tokenizeText(text: string): string[] {
  const raw: string[] = [];
  for (const chunk of normalise(text).split(/\s+/)) if (chunk.length > 0) splitChunk(chunk, raw);
  return raw.map((t) => t.toLowerCase());
}
