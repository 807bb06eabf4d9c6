/**
 * Token estimates from text, for a hold's prompt side and for answers that come without usage. English runs
 * about four characters a token; a CJK character (Han, kana, Hangul, CJK punctuation, full-width forms) is
 * about a token of its own; other scripts about three characters a token. Counting every character as a
 * quarter token billed Chinese text at a quarter of its tokens. Weights are in twelfths of a token.
 */
const ASCII = 3;
const OTHER = 4;
const CJK = 12;
/** The weight of one token. */
export const ONE_TOKEN = 12;
const NON_ASCII = /[\u0080-\uffff]/;

const isCjk = (code: number) =>
  (code >= 0x2e80 && code <= 0x9fff) ||
  (code >= 0xac00 && code <= 0xd7af) ||
  (code >= 0xf900 && code <= 0xfaff) ||
  (code >= 0xff00 && code <= 0xffef);

/** The text's weight, to add up across texts before `tokensOf`. */
export function textWeight(text: string): number {
  // Most text is ASCII: one scan by the regular expression engine, no loop here.
  if (!NON_ASCII.test(text)) return text.length * ASCII;
  let weight = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    weight += code < 0x80 ? ASCII : isCjk(code) ? CJK : OTHER;
  }
  return weight;
}

/** Whole tokens of a summed weight, rounded up. */
export const tokensOf = (weight: number) => Math.ceil(weight / 12);
