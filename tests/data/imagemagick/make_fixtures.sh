#!/bin/sh
# Regenerate the ImageMagick kernel printouts that tests/test_catalog_tables.py
# compares imgconv's built-in kernels with. The tests only read the .txt files;
# they never need ImageMagick.
#
# Each file holds several sections. A section starts with a line
#   ### SPEC
# and is followed, verbatim, by what
#   convert xc: -precision 17 -define morphology:showKernel=1 \
#       -morphology Convolve SPEC null:
# prints (on stderr). The first line of each file records `convert -version`.
#
# Run from anywhere: ./tests/data/imagemagick/make_fixtures.sh
set -eu
cd "$(dirname "$0")"

VERSION=$(convert -version | head -n 1)
ANGLES="0 45 90 135 180 225 270 315"

show() {
    printf '### %s\n' "$1"
    convert xc: -precision 17 -define morphology:showKernel=1 \
        -morphology Convolve "$1" null: 2>&1
}

start() {
    printf '# %s\n' "$VERSION" >"$1"
}

# Laplacian:0..19. ImageMagick defines types 0 1 2 3 5 7 15 19 and silently
# prints type 0 for the others.
start laplacian.txt
for t in $(seq 0 19); do show "Laplacian:$t" >>laplacian.txt; done

# The rotatable 3x3 kernels at every 45 degrees, and their @ and > sets.
for name in Sobel Prewitt Roberts Compass Kirsch; do
    file=$(echo "$name" | tr 'A-Z' 'a-z').txt
    start "$file"
    for a in $ANGLES; do show "$name:$a" >>"$file"; done
    show "$name:@" >>"$file"
    show "$name:>" >>"$file"
done

# FreiChen: every type, the edge types 0 1 2 at every angle and as sets.
start freichen.txt
for t in 0 1 2 10 11 12 13 14 15 16 17 18 19; do show "FreiChen:$t" >>freichen.txt; done
for t in 0 1 2; do
    for a in $ANGLES; do show "FreiChen:$t,$a" >>freichen.txt; done
    show "FreiChen:$t,@" >>freichen.txt
    show "FreiChen:$t,>" >>freichen.txt
done

# Binomial:R is (2R+1) x (2R+1).
start binomial.txt
for r in 1 2 3 4; do show "Binomial:$r" >>binomial.txt; done

# Flat shapes, whole radii only: ImageMagick 6.9.11 prints uninitialised
# memory for fractional Disk and Diamond radii (Disk:1.5 is 4x4 of garbage).
start shapes.txt
for r in 1 2 3 4 5 6; do show "Disk:$r" >>shapes.txt; done
for r in 1 2 3 4 5; do show "Diamond:$r" >>shapes.txt; done
