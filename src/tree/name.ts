/**
 * Names as bytes. File names and symlink targets on Linux are byte strings, not text; efsbak
 * carries them as JS strings in a lossless mapping so that every layer above the file system
 * can keep using strings:
 *
 *   bytes -> string: valid UTF-8 sequences decode as usual; every byte that is not part of a
 *                    valid sequence becomes the lone low surrogate U+DC00 + byte (U+DC80..U+DCFF)
 *   string -> bytes: the reverse; a well-formed string is plain UTF-8
 *
 * Valid UTF-8 never decodes to a surrogate, so the mapping is a bijection: two different byte
 * names never become one string, and a name comes back byte for byte (Python calls this
 * "surrogateescape"). Strings with other lone surrogates (only a hostile vault makes them)
 * have no byte form: `nameToBytes` returns null and restore treats the name as unsafe.
 *
 * For people (ls, find, diff, JSON, MANIFEST.json, job warnings) `displayName` escapes a name
 * into printable text in one documented way: a raw byte, a control character or DEL as
 * `\xHH`, a backslash as `\\`; everything else as is. `parseDisplayName` reads that form back.
 */

const DECODER = new TextDecoder("utf-8", { fatal: true });

/** The string form of a byte name (see the module comment). */
export function nameFromBytes(bytes: Uint8Array): string {
  let ascii = true;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  try {
    return DECODER.decode(bytes);
  } catch {
    return decodeLossless(bytes);
  }
}

/** Length of the valid UTF-8 sequence starting at i, or 0 when the byte there starts none. */
function sequenceAt(b: Uint8Array, i: number): number {
  const c = b[i]!;
  const cont = (k: number) => i + k < b.length && (b[i + k]! & 0xc0) === 0x80;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    const c1 = b[i + 1]!;
    if (c === 0xe0 && c1 < 0xa0) return 0; // overlong
    if (c === 0xed && c1 >= 0xa0) return 0; // a surrogate
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const c1 = b[i + 1]!;
    if (c === 0xf0 && c1 < 0x90) return 0; // overlong
    if (c === 0xf4 && c1 >= 0x90) return 0; // past U+10FFFF
    return 4;
  }
  return 0;
}

function decodeLossless(b: Uint8Array): string {
  let out = "";
  let i = 0;
  while (i < b.length) {
    const n = sequenceAt(b, i);
    if (n === 0) {
      out += String.fromCharCode(0xdc00 + b[i]!);
      i++;
    } else {
      out += DECODER.decode(b.subarray(i, i + n));
      i += n;
    }
  }
  return out;
}

/** The bytes of a name in string form, or null when it has no byte form (a lone surrogate other than an escaped byte). */
export function nameToBytes(name: string): Buffer | null {
  if (name.isWellFormed()) return Buffer.from(name, "utf8");
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < name.length; i++) {
    const u = name.charCodeAt(i);
    if (u >= 0xd800 && u <= 0xdbff) {
      const next = name.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++; // a valid pair
        continue;
      }
      return null;
    }
    if (u >= 0xdc00 && u <= 0xdfff) {
      if (u < 0xdc80 || u > 0xdcff) return null;
      parts.push(Buffer.from(name.slice(start, i), "utf8"), Buffer.of(u - 0xdc00));
      start = i + 1;
    }
  }
  parts.push(Buffer.from(name.slice(start), "utf8"));
  return Buffer.concat(parts);
}

/** True when the name has a byte form (see nameToBytes). */
export function isByteName(name: string): boolean {
  return name.isWellFormed() || nameToBytes(name) !== null;
}

/** A file system path for a name in string form: a string when it is plain UTF-8, else its bytes. */
export function fsPath(name: string): string | Buffer {
  if (name.isWellFormed()) return name;
  const b = nameToBytes(name);
  if (!b) throw new Error(`name has no byte form: ${displayName(name)}`);
  return b;
}

const hex2 = (n: number) => n.toString(16).padStart(2, "0");

/** Printable, lossless text for a name: raw bytes, control characters and DEL as \xHH, backslash as \\. */
export function displayName(name: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[\x00-\x1f\x7f\\]/.test(name) && name.isWellFormed()) return name;
  let out = "";
  for (let i = 0; i < name.length; i++) {
    const u = name.charCodeAt(i);
    if (u === 0x5c) out += "\\\\";
    else if (u < 0x20 || u === 0x7f) out += `\\x${hex2(u)}`;
    else if (u >= 0xdc80 && u <= 0xdcff && !(i > 0 && isHigh(name.charCodeAt(i - 1)))) out += `\\x${hex2(u - 0xdc00)}`;
    else if (u >= 0xd800 && u <= 0xdfff && !isPairAt(name, i)) out += `\\u${u.toString(16)}`;
    else out += name[i];
  }
  return out;
}

function isHigh(u: number): boolean {
  return u >= 0xd800 && u <= 0xdbff;
}

function isPairAt(s: string, i: number): boolean {
  const u = s.charCodeAt(i);
  if (isHigh(u)) {
    const n = s.charCodeAt(i + 1);
    return n >= 0xdc00 && n <= 0xdfff;
  }
  return i > 0 && isHigh(s.charCodeAt(i - 1));
}

/** Reads `displayName`'s form back: \xHH (a byte, or a control character below 0x80) and \\; any other backslash stays. */
export function parseDisplayName(text: string): string {
  if (!text.includes("\\")) return text;
  return text.replace(/\\(\\|x([0-9a-fA-F]{2}))/g, (_m, esc: string, hh: string | undefined) => {
    if (esc === "\\") return "\\";
    const b = parseInt(hh!, 16);
    return b < 0x80 ? String.fromCharCode(b) : String.fromCharCode(0xdc00 + b);
  });
}
