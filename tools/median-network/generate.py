#!/usr/bin/env python3
"""Prints the exchanges of shaders/filter/median5.wgsl: a selection network
for the median of 25 values.

Batcher's odd-even merge sort on 32 wires sorts any 32 values. With wires
25..31 holding +inf, every exchange that touches them either does nothing or
only moves an infinity, so it is dropped; of the rest, only the exchanges the
13th-smallest value (wire 12 at the end) depends on are kept, found by walking
the network backwards from that wire. What remains selects the median of 25
values: 113 exchanges in place of the 191 of the whole sort.

The kernels' tests prove the network in the shader exhaustively (the 0-1
principle: a comparator network selects the k-th smallest of every input iff
it does so for every input of zeros and ones, here all 2^25 of them).
"""


def odd_even_merge_sort(n):
    """Batcher's network for n (a power of two) wires, as (lo, hi) pairs."""
    exchanges = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        exchanges.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return exchanges


def median_network(values=25, wires=32):
    infinite = [w >= values for w in range(wires)]
    live = []
    for lo, hi in odd_even_merge_sort(wires):
        if infinite[lo] or infinite[hi]:
            # With +inf on hi, nothing moves. Batcher's network never meets
            # +inf on lo alone here, since the padding sits on the top wires
            # and stays there; check that rather than assume it.
            assert infinite[hi], (lo, hi)
            continue
        live.append((lo, hi))
    needed, kept = {values // 2}, []
    for lo, hi in reversed(live):
        if lo in needed or hi in needed:
            kept.append((lo, hi))
            needed |= {lo, hi}
    kept.reverse()
    return kept


def main():
    network = median_network()
    print(f"    // {len(network)} exchanges (tools/median-network/generate.py)")
    line = []
    for lo, hi in network:
        line.append(f"sort2({lo}u, {hi}u);")
        if len(line) == 4:
            print("    " + " ".join(line))
            line = []
    if line:
        print("    " + " ".join(line))


if __name__ == "__main__":
    main()
