#!/usr/bin/env python3
"""Finds the generated image on a terminal screenshot and scores it against the PNG.

usage: check_shot.py SHOT.ppm REF_SCALED_DIR REF.ppm WINDOW(x,y,w,h) [PANE(x,y,w,h)]

Prints `bbox x y w h` first (the caller then resizes the reference to w×h as
REF_SCALED_DIR/ref_WxH.ppm and calls again with it present), then the scores:
`fine` = RMSE (0..1) of the screenshot crop against the PNG resized to the crop,
`coarse` = RMSE of 8×8 block means (robust to a pixel of misplacement). Exit 1 when no image
region is found or it is outside the pane/window.
"""
import os
import sys


def read_ppm(path):
    with open(path, "rb") as f:
        data = f.read()
    # P6\n<w> <h>\n<max>\n<bytes>
    parts = []
    i = 0
    while len(parts) < 4:
        while data[i:i + 1].isspace():
            i += 1
        if data[i:i + 1] == b"#":
            while data[i:i + 1] != b"\n":
                i += 1
            continue
        j = i
        while not data[j:j + 1].isspace():
            j += 1
        parts.append(data[i:j])
        i = j
    assert parts[0] == b"P6", "not a binary PPM"
    w, h = int(parts[1]), int(parts[2])
    return w, h, data[i + 1:i + 1 + w * h * 3]


def px(img, x, y):
    w, _, d = img
    i = (y * w + x) * 3
    return d[i:i + 3]


def find_image(img, win):
    """Bounding box of the largest block region with many distinct colours, refined by
    columns/rows whose pixels mostly differ from their neighbour (photos and noise do, text,
    borders and blank cells do not)."""
    wx, wy, ww, wh = win
    B = 8
    busy = set()
    for by in range(wy // B, (wy + wh) // B):
        for bx in range(wx // B, (wx + ww) // B):
            colours = set()
            for y in range(by * B, by * B + B):
                for x in range(bx * B, bx * B + B):
                    colours.add(px(img, x, y))
            if len(colours) >= 20:
                busy.add((bx, by))
    if not busy:
        return None
    # Largest 4-connected component.
    seen, best = set(), []
    for start in busy:
        if start in seen:
            continue
        comp, stack = [], [start]
        seen.add(start)
        while stack:
            c = stack.pop()
            comp.append(c)
            for d in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                n = (c[0] + d[0], c[1] + d[1])
                if n in busy and n not in seen:
                    seen.add(n)
                    stack.append(n)
        if len(comp) > len(best):
            best = comp
    x0 = min(c[0] for c in best) * B - B
    x1 = (max(c[0] for c in best) + 1) * B + B
    y0 = min(c[1] for c in best) * B - B
    y1 = (max(c[1] for c in best) + 1) * B + B
    x0, y0 = max(x0, wx + 1), max(y0, wy + 1)
    x1, y1 = min(x1, wx + ww - 1), min(y1, wy + wh - 1)

    def col_busy(x):
        n = sum(1 for y in range(y0, y1) if px(img, x, y) != px(img, x, y - 1))
        return n > 0.5 * (y1 - y0)

    def row_busy(y):
        n = sum(1 for x in range(x0, x1) if px(img, x, y) != px(img, x - 1, y))
        return n > 0.5 * (x1 - x0)

    cols = [x for x in range(x0, x1) if col_busy(x)]
    rows = [y for y in range(y0, y1) if row_busy(y)]
    if not cols or not rows:
        return None
    return cols[0], rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1


def rmse(a, b):
    s = sum((x - y) ** 2 for x, y in zip(a, b))
    return (s / max(1, len(a))) ** 0.5 / 255.0


def block_means(img, x0, y0, w, h, n):
    out = []
    for by in range(n):
        for bx in range(n):
            acc = [0, 0, 0]
            cnt = 0
            for y in range(y0 + by * h // n, y0 + (by + 1) * h // n):
                for x in range(x0 + bx * w // n, x0 + (bx + 1) * w // n):
                    p = px(img, x, y)
                    for c in range(3):
                        acc[c] += p[c]
                    cnt += 1
            out.extend(v / max(cnt, 1) for v in acc)
    return out


def main():
    shot = read_ppm(sys.argv[1])
    scaled_dir = sys.argv[2]
    win = tuple(int(v) for v in sys.argv[4].split(","))
    pane = tuple(int(v) for v in sys.argv[5].split(",")) if len(sys.argv) > 5 else None
    box = find_image(shot, win)
    if box is None:
        print("no image region found")
        return 1
    x, y, w, h = box
    print(f"bbox {x} {y} {w} {h}")
    ok = True
    if pane is not None:
        px0, py0, pw, ph = pane
        if not (x >= px0 and y >= py0 and x + w <= px0 + pw and y + h <= py0 + ph):
            print(f"image {box} is not inside the preview pane {pane}")
            ok = False
    ref_path = os.path.join(scaled_dir, f"ref_{w}x{h}.ppm")
    if not os.path.exists(ref_path):
        return 0 if ok else 1
    ref = read_ppm(ref_path)
    crop = []
    for yy in range(y, y + h):
        for xx in range(x, x + w):
            crop.extend(px(shot, xx, yy))
    fine = rmse(crop, list(ref[2]))
    coarse = rmse(block_means(shot, x, y, w, h, 8), block_means(ref, 0, 0, w, h, 8))
    print(f"fine {fine:.4f} coarse {coarse:.4f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
