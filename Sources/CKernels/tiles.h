#ifndef DREAMLAB_TILES_H
#define DREAMLAB_TILES_H
// The 16 sums of a 4x4 tile of accumulators in 15 shuffle-adds instead of 16 separate halvings: level by level, each
// pair of vectors becomes one holding both halves' pair sums, so lane 4i+j of the result is the total of a[i][j].
#define EVEN16 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#define ODD16 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31
#define PAIRSUM(x, y) (__builtin_shufflevector((x), (y), EVEN16) + __builtin_shufflevector((x), (y), ODD16))
#define TILE_SUMS(a) ({ \
    __typeof__((a)[0][0]) _r[4]; \
    for (int _i = 0; _i < 4; _i++) _r[_i] = PAIRSUM(PAIRSUM((a)[_i][0], (a)[_i][1]), PAIRSUM((a)[_i][2], (a)[_i][3])); \
    PAIRSUM(PAIRSUM(_r[0], _r[1]), PAIRSUM(_r[2], _r[3])); })
#endif
