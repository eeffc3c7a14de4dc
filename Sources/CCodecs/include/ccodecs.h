// CCodecs: thin C wrappers over Debian's image codec libraries (libjpeg-turbo, libpng, ...).
// They exist because those C APIs report errors through longjmp, which must not cross Swift
// frames: every library call that may longjmp happens inside a C function here that owns the
// setjmp. Only Sources/CoDEImage imports this module.
#ifndef CCODECS_H
#define CCODECS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Result codes shared by all decoders.
enum {
    CCODECS_OK = 0,
    CCODECS_TRUNCATED = 1,    ///< the data ends before the image does
    CCODECS_CORRUPT = 2,      ///< the codec rejected the data (message says why)
    CCODECS_TOO_LARGE = 3,    ///< width x height over the pixel limit (checked from the header)
    CCODECS_UNSUPPORTED = 4,  ///< valid but not supported (e.g. a 2-channel JPEG)
    CCODECS_WARNING = 5,      ///< a codec warning while warnings are fatal (message says which)
    CCODECS_NO_MEMORY = 6,    ///< an internal allocation failed
    CCODECS_SCAN_LIMIT = 7,   ///< a progressive JPEG with more scans than allowed
};

/// Limits applied while decoding hostile input.
typedef struct {
    int64_t max_pixels;      ///< width * height must not exceed this
    int32_t max_scans;       ///< progressive JPEG scan limit (<= 0: none)
    int32_t warnings_fatal;  ///< non-zero: a codec warning aborts decoding
} ccodecs_limits;

/// What a call reports back: dimensions once known, a message when it fails.
typedef struct {
    int64_t width;           ///< as stored in the header (up to 2^32 - 1 for TIFF)
    int64_t height;
    int32_t components;      ///< channels in the file (informational)
    int32_t warnings;        ///< warnings seen (when not fatal)
    char message[256];
} ccodecs_status;

/// Whether width * height exceeds max_pixels, without overflow (dimensions up to 2^32 - 1).
static inline int ccodecs_exceeds(uint64_t width, uint64_t height, int64_t max_pixels) {
    if (max_pixels < 0) return 1;
    if (width == 0 || height == 0) return 0;
    return width > (uint64_t)max_pixels / height;
}

/// Reads the JPEG header only: fills status->width/height/components and checks the pixel limit.
int ccodecs_jpeg_header(const uint8_t *data, size_t size, const ccodecs_limits *limits, ccodecs_status *status);
/// Decodes to 8-bit interleaved RGB as PIL's convert("RGB") does (ISLOW IDCT, fancy upsampling;
/// gray replicated; CMYK/YCCK inverted as Adobe CMYK then PIL's cmyk2rgb). `out` holds
/// width * height * 3 bytes for the dimensions returned by ccodecs_jpeg_header.
int ccodecs_jpeg_decode(const uint8_t *data, size_t size, const ccodecs_limits *limits,
                        uint8_t *out, int32_t width, int32_t height, ccodecs_status *status);

/// Decodes only the region [rx, rx+rw) x [ry, ry+rh) (same pixels as a full decode; see jpeg.c).
int ccodecs_jpeg_decode_region(const uint8_t *data, size_t size, const ccodecs_limits *limits,
                               int32_t width, int32_t height, int32_t rx, int32_t ry, int32_t rw, int32_t rh,
                               uint8_t *out, ccodecs_status *status);

/// Reads the PNG header (IHDR) only: fills status and checks the pixel limit.
int ccodecs_png_header(const uint8_t *data, size_t size, const ccodecs_limits *limits, ccodecs_status *status);
/// Decodes to 8-bit RGB as PIL's convert("RGB"): palette expanded, gray replicated, alpha dropped,
/// 16-bit samples reduced to their high byte except 16-bit gray, which PIL clips to 255.
int ccodecs_png_decode(const uint8_t *data, size_t size, const ccodecs_limits *limits,
                       uint8_t *out, int32_t width, int32_t height, ccodecs_status *status);

/// WebP (libwebp, still images): header, then RGB pixels (alpha dropped).
int ccodecs_webp_header(const uint8_t *data, size_t size, const ccodecs_limits *limits, ccodecs_status *status);
int ccodecs_webp_decode(const uint8_t *data, size_t size, const ccodecs_limits *limits,
                        uint8_t *out, int32_t width, int32_t height, ccodecs_status *status);

/// GIF (giflib), first frame on the logical screen as PIL shows it: header, then RGB pixels.
int ccodecs_gif_header(const uint8_t *data, size_t size, const ccodecs_limits *limits, ccodecs_status *status);
int ccodecs_gif_decode(const uint8_t *data, size_t size, const ccodecs_limits *limits,
                       uint8_t *out, int32_t width, int32_t height, ccodecs_status *status);

/// TIFF (libtiff), first directory: header, then RGB pixels.
int ccodecs_tiff_header(const uint8_t *data, size_t size, const ccodecs_limits *limits, ccodecs_status *status);
int ccodecs_tiff_decode(const uint8_t *data, size_t size, const ccodecs_limits *limits,
                        uint8_t *out, int32_t width, int32_t height, ccodecs_status *status);

/// Encodes 8-bit RGB as baseline JPEG the way PIL's save(quality=q) does by default: IJG tables
/// scaled by `quality` (1...100), 4:2:0 subsampling, ISLOW DCT, no Huffman optimisation, JFIF
/// header. On success *out is malloc'd (free with ccodecs_free) and *out_size set.
int ccodecs_jpeg_encode(const uint8_t *rgb, int32_t width, int32_t height, int32_t quality,
                        uint8_t **out, size_t *out_size, ccodecs_status *status);
/// Encodes 8-bit RGB as a non-interlaced PNG (zlib level 6, adaptive filters).
int ccodecs_png_encode(const uint8_t *rgb, int32_t width, int32_t height,
                       uint8_t **out, size_t *out_size, ccodecs_status *status);
/// Frees a buffer returned by an encoder.
void ccodecs_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
