/** Strata's layer format: bumped whenever the bytes Strata writes for the same input change. */
export const LAYER_FORMAT_VERSION = '1';
