/**
 * The VHD on-disk format: pure codecs for the footer, dynamic header, parent locators, BAT,
 * sector bitmaps and tapdisk's batmap, plus CHS geometry, checksums and layout arithmetic.
 * No I/O: Buffers in, structures out. The driver (src/tapdisk/drivers/vhd) and the image CLI
 * build on it.
 */
export * from './constants.js';
export * from './checksum.js';
export * from './struct.js';
export * from './footer.js';
export * from './header.js';
export * from './locator.js';
export * from './bat.js';
export * from './bitmap.js';
export * from './batmap.js';
export * from './geometry.js';
export * from './layout.js';
export * from './time.js';
export * from './uuid.js';
export * from './errors.js';
