/** A ZIP archive of `entries` small files, stored (not compressed): a window's frames bundle, one entry per frame. */
export function zip(entries: number): Uint8Array {
  const encoder = new TextEncoder();
  const files = Array.from({ length: entries }, (_, n) => ({
    name: encoder.encode(`frame_${String(n).padStart(4, "0")}.jpg`),
    data: Uint8Array.of(0xff, 0xd8, n & 0xff, (n >> 8) & 0xff, 0xff, 0xd9),
  }));
  const local = files.reduce((n, f) => n + 30 + f.name.length + f.data.length, 0);
  const central = files.reduce((n, f) => n + 46 + f.name.length, 0);
  const bytes = new Uint8Array(local + central + 22);
  const view = new DataView(bytes.buffer);
  let at = 0;
  const u16 = (v: number) => (view.setUint16(at, v, true), (at += 2));
  const u32 = (v: number) => (view.setUint32(at, v >>> 0, true), (at += 4));
  const put = (b: Uint8Array) => (bytes.set(b, at), (at += b.length));
  const offsets: number[] = [];
  for (const f of files) {
    offsets.push(at);
    u32(0x04034b50), u16(20), u16(0), u16(0), u16(0), u16(0x21);
    u32(crc32(f.data)), u32(f.data.length), u32(f.data.length), u16(f.name.length), u16(0);
    put(f.name), put(f.data);
  }
  const directory = at;
  files.forEach((f, i) => {
    u32(0x02014b50), u16(20), u16(20), u16(0), u16(0), u16(0), u16(0x21);
    u32(crc32(f.data)), u32(f.data.length), u32(f.data.length), u16(f.name.length), u16(0), u16(0);
    u16(0), u16(0), u32(0), u32(offsets[i]!);
    put(f.name);
  });
  u32(0x06054b50), u16(0), u16(0), u16(entries), u16(entries), u32(central), u32(directory), u16(0);
  return bytes;
}

function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}
