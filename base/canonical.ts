// JSON whose bytes depend only on the value: keys sorted bytewise at every depth,
// no whitespace. Configs and manifests are hashed, so their serialisation is part
// of the digest. Written out directly: a JS object would put integer-like keys
// ("10", "9") first in numeric order whatever order they were inserted in.

function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort(compareKeys);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`internal: ${value} has no JSON form`);
  return JSON.stringify(value);
}
