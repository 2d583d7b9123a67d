/*
 * The verification pattern: every written 512-byte sector starts with a header naming the
 * sector and the generation of the write that filled it, followed by bytes derived from both.
 * A lost write reads back an older generation, a misplaced one another sector number, a torn
 * or corrupt one fails the body. Generation 0 means "never written": the sector must be zero.
 */
#include <string.h>

#include "blkfront.h"

#define PATTERN_MAGIC 0x59465256424c4253ull /* "SBLBVRFY" little-endian */

struct pattern_header {
    uint64_t magic;
    uint64_t sector;
    uint32_t generation;
    uint32_t reserved;
};

static uint64_t splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void bf_pattern_fill(uint8_t *buf, uint64_t sector, uint32_t generation)
{
    if (generation == 0) {
        memset(buf, 0, BF_SECTOR_SIZE);
        return;
    }
    struct pattern_header h = { PATTERN_MAGIC, sector, generation, 0 };
    memcpy(buf, &h, sizeof h);
    uint64_t state = sector * 0x100000001b3ull ^ generation;
    for (size_t off = sizeof h; off < BF_SECTOR_SIZE; off += 8) {
        uint64_t word = splitmix(&state);
        memcpy(buf + off, &word, 8);
    }
}

int bf_pattern_check(const uint8_t *buf, uint64_t sector, uint32_t generation, uint64_t *found_sector,
                     uint32_t *found_generation)
{
    uint8_t expected[BF_SECTOR_SIZE];
    bf_pattern_fill(expected, sector, generation);
    if (memcmp(buf, expected, BF_SECTOR_SIZE) == 0) return 0;
    struct pattern_header h;
    memcpy(&h, buf, sizeof h);
    if (h.magic == PATTERN_MAGIC) {
        *found_sector = h.sector;
        *found_generation = h.generation;
    } else {
        *found_sector = UINT64_MAX;
        *found_generation = 0;
    }
    return -1;
}
