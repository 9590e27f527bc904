//! CPU reference of connected-component labelling: a sequential union-find
//! over the raster scan, then labels numbered by each component's first
//! pixel in raster order (scikit-image's numbering).

use crate::label::Connectivity;

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

/// Labels (0 background, 1..=N) and N for a binary `h × w` image.
pub fn label(image: &[bool], h: usize, w: usize, connectivity: Connectivity) -> (Vec<u32>, u32) {
    let mut parent: Vec<usize> = (0..h * w).collect();
    let unite = |parent: &mut Vec<usize>, a: usize, b: usize| {
        let (ra, rb) = (find(parent, a), find(parent, b));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
        }
    };
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if !image[i] {
                continue;
            }
            let mut neighbours = vec![];
            if x > 0 {
                neighbours.push(i - 1);
            }
            if y > 0 {
                neighbours.push(i - w);
                if connectivity == Connectivity::Eight {
                    if x > 0 {
                        neighbours.push(i - w - 1);
                    }
                    if x + 1 < w {
                        neighbours.push(i - w + 1);
                    }
                }
            }
            for j in neighbours {
                if image[j] {
                    unite(&mut parent, i, j);
                }
            }
        }
    }
    let mut labels = vec![0u32; h * w];
    let mut of_root = vec![0u32; h * w];
    let mut count = 0;
    for i in 0..h * w {
        if image[i] {
            let r = find(&mut parent, i);
            if of_root[r] == 0 {
                count += 1;
                of_root[r] = count;
            }
            labels[i] = of_root[r];
        }
    }
    (labels, count)
}
