import { vhdFamily } from '../../../bench/vhd.js';
import { benchVerb } from './common.js';

export const command = benchVerb('vhd-ring', 'VHD against raw through the ring, and coalesce against qemu-img commit', [vhdFamily]);
