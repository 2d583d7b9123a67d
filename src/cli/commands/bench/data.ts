import { dataFamily } from '../../../bench/datapath.js';
import { benchVerb } from './common.js';

export const command = benchVerb('data', 'a raw image in the page cache through the ring, against fio', [dataFamily]);
