/** Reading `hrseg serve`'s responses in tests: its Server-Sent Events and its PNG masks. */
import sharp from 'sharp';

export interface Sse {
  event: string;
  data: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** A text/event-stream body → its events, each `event:` name with its JSON `data:`. */
export function parseSse(text: string): Sse[] {
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((block) => ({ event: /^event: (.*)$/m.exec(block)![1], data: JSON.parse(/^data: (.*)$/m.exec(block)![1]) }));
}

/** A PNG data URL's pixels, one byte per pixel (0/1). */
export async function maskOf(url: string): Promise<{ mask: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(Buffer.from(url.split(',')[1], 'base64'))
    .greyscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { mask: Uint8Array.from(data, (v) => (v > 127 ? 1 : 0)), width: info.width, height: info.height };
}
