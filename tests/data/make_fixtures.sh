#!/bin/sh
# Regenerate the fixtures of tests/test_image_io.py. The tests only read the
# files this writes; they never need ImageMagick or libvips themselves.
#
# Needs python3 with NumPy, ImageMagick 6 (`convert`) and libvips (`vips`);
# made with ImageMagick 6.9.11-60 Q16 and libvips 8.14.1.
# Run from anywhere: ./tests/data/make_fixtures.sh
set -eu
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
W=29
H=19
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. The expected arrays (committed as .npy) and the same samples as raw
#    big-endian (16-bit) or native float32 files for the encoders.
"$PYTHON" - "$tmp" "$W" "$H" <<'PY'
import sys
import numpy as np

tmp, width, height = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(20240611)
for name, channels in (("la16", 2), ("rgb16", 3), ("rgba16", 4)):
    a = rng.integers(0, 65536, size=(height, width, channels), dtype=np.uint16)
    # Samples whose high and low bytes are easy to mix up.
    a[0, :6, 0] = [0, 255, 256, 0x00FF, 0xFF00, 65535]
    np.save(f"{name}.npy", a)
    a.astype(">u2").tofile(f"{tmp}/{name}.raw")
    if name == "la16":
        a[..., 0].astype(">u2").tofile(f"{tmp}/l16.raw")
        a[..., 1].astype(">u2").tofile(f"{tmp}/a16.raw")
for name, channels in (("rgbf32", 3), ("rgbaf32", 4)):
    # Floats outside 0..1 too: a float TIFF holds any value.
    f = (rng.random((height, width, channels)) * 2 - 0.5).astype(np.float32)
    np.save(f"{name}.npy", f)
    f.tofile(f"{tmp}/{name}.raw")
    np.clip(f, 0, 1).astype("<f4").tofile(f"{tmp}/{name}_unit.raw")
PY

# 2. 16-bit colour PNG by ImageMagick: adaptive filters, and Adam7 interlaced.
rgb="-size ${W}x${H} -depth 16 -endian MSB rgb:$tmp/rgb16.raw"
rgba="-size ${W}x${H} -depth 16 -endian MSB rgba:$tmp/rgba16.raw"
la="-size ${W}x${H} -depth 16 -endian MSB gray:$tmp/l16.raw
    ( -size ${W}x${H} -depth 16 -endian MSB gray:$tmp/a16.raw )
    -alpha off -compose CopyOpacity -composite"
convert $rgb PNG48:rgb16.png
convert $rgb -interlace PNG PNG48:rgb16_interlaced.png
convert $rgba PNG64:rgba16.png
convert $rgba -interlace PNG PNG64:rgba16_interlaced.png
convert $la -define png:color-type=4 -depth 16 PNG:la16.png
convert $la -define png:color-type=4 -depth 16 -interlace PNG PNG:la16_interlaced.png

# 3. 16-bit colour TIFF by ImageMagick (little-endian unless "msb").
for c in None LZW Zip; do
    lc=$(echo $c | tr 'A-Z' 'a-z')
    convert $rgb -compress $c rgb16_$lc.tif
    convert $rgba -compress $c rgba16_$lc.tif
done
convert $rgb -define tiff:endian=msb -compress None -define tiff:rows-per-strip=8 rgb16_msb_none.tif
convert $rgb -define tiff:endian=msb -compress LZW rgb16_msb_lzw.tif
convert $rgba -define tiff:endian=msb -compress Zip rgba16_msb_zip.tif
convert $rgb -compress Zip -define tiff:predictor=2 rgb16_predictor.tif
convert $rgb -interlace plane -compress None rgb16_planar.tif
convert $rgb -interlace plane -compress Zip rgb16_planar_zip.tif
convert $rgba -compress Zip -define tiff:alpha=associated rgba16_associated.tif
convert $rgb -compress Zip -orient RightTop rgb16_orient6.tif
# 16-bit LA TIFF: Pillow cannot open these; imgconv.deep reads the Zip one.
convert $la -depth 16 -compress Zip la16_zip.tif
convert $la -depth 16 -compress LZW la16_lzw.tif

# 4. Float TIFF by libvips: exact floats (values outside 0..1 too).
for n in rgbf32:3:scrgb rgbaf32:4:scrgb; do
    name=${n%%:*}; rest=${n#*:}; bands=${rest%%:*}; space=${rest#*:}
    vips rawload "$tmp/$name.raw" "$tmp/$name.v" $W $H $bands --format float --interpretation $space
    vips tiffsave "$tmp/$name.v" ${name}_none.tif --compression none --predictor none
    vips tiffsave "$tmp/$name.v" ${name}_deflate.tif --compression deflate --predictor none
done
vips tiffsave "$tmp/rgbf32.v" rgbf32_lzw.tif --compression lzw --predictor none
vips tiffsave "$tmp/rgbf32.v" rgbf32_tiled.tif --compression none --tile --tile-width 16 --tile-height 16
vips tiffsave "$tmp/rgbf32.v" rgbf32_predictor.tif --compression deflate --predictor float
# Big-endian float by ImageMagick (Q16: values in 0..1, quantised to 16 bits).
# Predictor 1: this ImageMagick writes big-endian files with the floating-point
# predictor wrongly (libvips reads them as garbage too).
convert -size ${W}x${H} -endian LSB -depth 32 -define quantum:format=floating-point \
    rgb:"$tmp/rgbf32_unit.raw" -define tiff:endian=msb -define tiff:predictor=1 \
    -compress Zip rgbf32_msb.tif
