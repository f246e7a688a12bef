// One platform rule for every place that picks an image out of an index: the
// readers (copy, pull, diff, a base image) and push's look-up of the layers
// already under the destination tag. Before, push compared os and architecture
// only, so of linux/arm/v6 and linux/arm/v7 it took whichever came first.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { choosePlatform, platformMatches } from '../../oci/platform.js';
import type { Descriptor, Platform } from '../../oci/types.js';

const d = (n: number, platform?: Platform): Descriptor => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${String(n).repeat(64)}`,
  size: n,
  ...(platform ? { platform } : {}),
});
const v6 = d(1, { os: 'linux', architecture: 'arm', variant: 'v6' });
const v7 = d(2, { os: 'linux', architecture: 'arm', variant: 'v7' });
const arm64 = d(3, { os: 'linux', architecture: 'arm64', variant: 'v8' });
const none = d(4);

test('the variant asked for is the one chosen, whatever the order', () => {
  assert.equal(choosePlatform([v6, v7], { os: 'linux', architecture: 'arm', variant: 'v7' }), v7);
  assert.equal(choosePlatform([v7, v6], { os: 'linux', architecture: 'arm', variant: 'v6' }), v6);
});

test('arm means arm/v7 and arm64/v8 means arm64, as containerd reads them', () => {
  assert.equal(choosePlatform([v6, v7], { os: 'linux', architecture: 'arm' }), v7);
  assert.equal(choosePlatform([none, arm64], { os: 'linux', architecture: 'arm64' }), arm64);
});

test('no match and descriptors without a platform give nothing', () => {
  assert.equal(choosePlatform([none, v6], { os: 'linux', architecture: 'amd64' }), undefined);
  assert.equal(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'arm', variant: 'v6' }), false);
});
