/**
 * Where a TOML syntax error points, and in which words. toml-eslint-parser stops where
 * reading failed (the end of an unterminated string, the letter after "12" in "12abc", the
 * next line for a missing value); a plan author wants the start of the offending token. A
 * lenient lexer walks the text up to that point, tracking strings, comments, words and open
 * brackets, and moves the error to:
 *   - the start of the token it falls in (the opening quote, the first digit);
 *   - just after the "=" for a missing value;
 *   - the "[" of a table header left open at the end of its line;
 *   - the "[" or "{" of an array or inline table left open.
 */

/** The parser's messages that plan files have always shown, kept in their earlier words. */
const MESSAGES: Record<string, string> = {
  "Unspecified values are invalid": "Unexpected character, expecting string, number, datetime, boolean, inline array or inline table",
  "Unterminated string constant": "Unterminated string",
  "Defining a key multiple times is invalid": "Can't redefine existing key",
};

const UNTERMINATED_HEADER = "Unterminated table-key";

/** The offset and message of a syntax error the parser reported at `offset` with `message`. */
export function syntaxError(text: string, offset: number, message: string): { offset: number; message: string } {
  const lexed = lex(text, offset);
  if (lexed.openHeader !== undefined) return { offset: lexed.openHeader, message: UNTERMINATED_HEADER };
  const words = MESSAGES[message] ?? message;
  const open = lexed.open[lexed.open.length - 1];
  if (open !== undefined && offset >= text.length) {
    return { offset: open, message: text[open] === "[" ? "Unterminated array" : "Unterminated inline table" };
  }
  if (message === "Unspecified values are invalid") return { offset: afterEquals(text, offset), message: words };
  if (message === "Unterminated array" || message === "Unterminated inline table") {
    return { offset: open ?? lexed.tokenStart, message: words };
  }
  if (message.startsWith("No newlines are allowed between the curly braces") && open !== undefined) return { offset: open, message: words };
  return { offset: lexed.tokenStart, message: words };
}

interface Lexed {
  /** Start of the token that holds the offset (the offset itself between tokens). */
  tokenStart: number;
  /** Offsets of the "[" and "{" of values still open at the offset. */
  open: number[];
  /** The "[" of a table header whose line ended before "]", when one did before the offset. */
  openHeader?: number;
}

function lex(text: string, offset: number): Lexed {
  const open: number[] = [];
  let header: number | undefined; // the "[" of the header being read
  let arrayHeader = false; // it is "[[", closed by "]]"
  let lineStart = true; // no token yet on this line (outside values)
  let i = 0;
  while (i < text.length && i <= offset) {
    const c = text[i];
    if (c === "\n") {
      if (header !== undefined) return { tokenStart: header, open, openHeader: header };
      if (open.length === 0) lineStart = true;
      i++;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r") {
      i++;
      continue;
    }
    let end: number;
    if (c === "#") end = lineEnd(text, i);
    else if (c === '"' || c === "'") end = stringEnd(text, i);
    else if ("[]{}=,".includes(c)) end = i + 1;
    else for (end = i + 1; end < text.length && !/[\s[\]{}=,#"']/.test(text[end]); end++);
    if (offset < end) return { tokenStart: i, open };
    if (c === "[" && lineStart && open.length === 0 && header === undefined) {
      header = i;
      arrayHeader = text[i + 1] === "[";
      if (arrayHeader) end = i + 2;
    } else if (c === "]" && header !== undefined) {
      if (text[i + 1] === "]" && arrayHeader) end = i + 2;
      if (!arrayHeader || end === i + 2) header = undefined;
    } else if (c === "[" || c === "{") open.push(i);
    else if (c === "]" || c === "}") open.pop();
    if (c !== "#") lineStart = false;
    i = end;
  }
  return { tokenStart: offset, open, openHeader: undefined };
}

/** One past the end of the string starting at text[i]; an unterminated one takes its line's end too. */
function stringEnd(text: string, i: number): number {
  const q = text[i];
  const triple = text[i + 1] === q && text[i + 2] === q;
  for (let j = i + (triple ? 3 : 1); j < text.length; j++) {
    if (text[j] === "\\" && q === '"') j++;
    else if (text[j] === "\n" && !triple) return j + 1;
    else if (text[j] === q && (!triple || (text[j + 1] === q && text[j + 2] === q))) {
      let end = j + (triple ? 3 : 1);
      while (triple && text[end] === q && end < j + 5) end++; // up to two more quotes end a multi-line string
      return end;
    }
  }
  return text.length + 1;
}

function lineEnd(text: string, i: number): number {
  const n = text.indexOf("\n", i);
  return n === -1 ? text.length : n;
}

/** Just after the "=" that a missing value follows (the parser points at the next token). */
function afterEquals(text: string, offset: number): number {
  let i = Math.min(offset, text.length) - 1;
  while (i >= 0 && /\s/.test(text[i])) i--;
  return text[i] === "=" ? i + 1 : offset;
}
