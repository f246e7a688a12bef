// What the suite builds: every output of every example, and the golden
// image again at each other setting that changes its bytes.
import type { Example } from './examples.js';

export interface Case {
  /** `example#attr`, with `+setting` for a variant: the name in golden.json and for --only. */
  id: string;
  example: Example;
  attr: string;
  system?: 'aarch64-linux';
  compression?: 'zstd' | 'none';
}

export const CASES: readonly Case[] = [
  { id: 'golden#default', example: 'golden', attr: 'default' },
  // golden is made of builtins.path only: nothing to build, so aarch64 works on x86.
  { id: 'golden#default+aarch64-linux', example: 'golden', attr: 'default', system: 'aarch64-linux' },
  { id: 'golden#default+zstd', example: 'golden', attr: 'default', compression: 'zstd' },
  { id: 'golden#default+none', example: 'golden', attr: 'default', compression: 'none' },
  { id: 'golden#based-one', example: 'golden', attr: 'based-one' },
  { id: 'golden#based-two', example: 'golden', attr: 'based-two' },
  { id: 'hello#default', example: 'hello', attr: 'default' },
  { id: 'hello#image', example: 'hello', attr: 'image' },
  { id: 'hello#busybox', example: 'hello', attr: 'busybox' },
];

/** The image flags of the case, as build, digest and serve take them. */
export function imageFlags(c: Case): string[] {
  return [...(c.system ? ['--system', c.system] : []), ...(c.compression ? ['--compression', c.compression] : [])];
}

/** A docker-archive holds uncompressed layers: Strata refuses zstd for it. */
export function hasDockerArchive(c: Case): boolean {
  return c.compression !== 'zstd';
}
