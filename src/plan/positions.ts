/**
 * Line and column of an offset into a plan file's text. Columns count Unicode code points,
 * as editors do (an emoji is one column, not the two UTF-16 units a JavaScript string holds);
 * lines end at "\n" (a "\r" before it belongs to the line ending). A leading byte order mark
 * is not part of the text: callers strip it first (stripBom).
 */

/** A 1-based line and column (in code points). */
export interface Position {
  line: number;
  col: number;
}

/** The text without a leading UTF-8 byte order mark (U+FEFF), which TOML allows. */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Maps offsets (UTF-16 indexes into one text) to positions. */
export function positionsOf(text: string): (offset: number) => Position {
  const starts = [0];
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: codePoints(text, starts[lo], offset) + 1 };
  };
}

/** The number of code points in text[from, to): a surrogate pair counts once. */
export function codePoints(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to && i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff || i === from || !isHigh(text.charCodeAt(i - 1))) n++;
  }
  return n;
}

function isHigh(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}
