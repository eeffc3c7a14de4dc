// GIF first frame through giflib, composed as PIL's GifImagePlugin shows frame 0.
#include "ccodecs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gif_lib.h>

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    int short_read;
} gif_source;

static int gif_read(GifFileType *gif, GifByteType *out, int n) {
    gif_source *s = (gif_source *)gif->UserData;
    size_t left = s->size - s->pos, take = (size_t)n < left ? (size_t)n : left;
    if (take < (size_t)n) s->short_read = 1;
    memcpy(out, s->data + s->pos, take);
    s->pos += take;
    return (int)take;
}

typedef struct {
    GifFileType *gif;
    gif_source src;
    int transparency;        // from a Graphic Control Extension before the frame, or -1
    int canvas_w, canvas_h;  // logical screen, grown to hold the frame as PIL does
} gif_state;

static int gif_fail(gif_state *g, int err, ccodecs_status *st) {
    snprintf(st->message, sizeof st->message, "%s", GifErrorString(err) ? GifErrorString(err) : "giflib error");
    return g->src.short_read || err == D_GIF_ERR_READ_FAILED || err == D_GIF_ERR_EOF_TOO_SOON ? CCODECS_TRUNCATED : CCODECS_CORRUPT;
}

// Opens the file and reads records up to (and including) the first image descriptor.
static int gif_begin(gif_state *g, const uint8_t *data, size_t size, const ccodecs_limits *limits, ccodecs_status *st) {
    memset(st, 0, sizeof *st);
    int err = 0;
    g->src = (gif_source){ data, size, 0, 0 };
    g->transparency = -1;
    g->gif = DGifOpen(&g->src, gif_read, &err);
    if (!g->gif) return gif_fail(g, err, st);
    for (;;) {
        GifRecordType rt;
        if (DGifGetRecordType(g->gif, &rt) == GIF_ERROR) return gif_fail(g, g->gif->Error, st);
        if (rt == IMAGE_DESC_RECORD_TYPE) break;
        if (rt == TERMINATE_RECORD_TYPE) { snprintf(st->message, sizeof st->message, "no image in GIF"); return CCODECS_CORRUPT; }
        if (rt == EXTENSION_RECORD_TYPE) {
            int code;
            GifByteType *ext;
            if (DGifGetExtension(g->gif, &code, &ext) == GIF_ERROR) return gif_fail(g, g->gif->Error, st);
            if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4) g->transparency = (ext[1] & 1) ? ext[4] : -1;
            while (ext) if (DGifGetExtensionNext(g->gif, &ext) == GIF_ERROR) return gif_fail(g, g->gif->Error, st);
        }
    }
    if (DGifGetImageDesc(g->gif) == GIF_ERROR) return gif_fail(g, g->gif->Error, st);
    GifImageDesc *d = &g->gif->Image;
    int64_t x1 = (int64_t)d->Left + d->Width, y1 = (int64_t)d->Top + d->Height;
    g->canvas_w = (int)(x1 > g->gif->SWidth ? x1 : g->gif->SWidth);
    g->canvas_h = (int)(y1 > g->gif->SHeight ? y1 : g->gif->SHeight);
    st->width = g->canvas_w;
    st->height = g->canvas_h;
    st->components = 1;
    if (ccodecs_exceeds((uint32_t)g->canvas_w, (uint32_t)g->canvas_h, limits->max_pixels) ||
        ccodecs_exceeds((uint32_t)d->Width, (uint32_t)d->Height, limits->max_pixels)) {
        snprintf(st->message, sizeof st->message, "image %dx%d exceeds the pixel limit %lld", g->canvas_w, g->canvas_h, (long long)limits->max_pixels);
        return CCODECS_TOO_LARGE;
    }
    if (g->canvas_w <= 0 || g->canvas_h <= 0 || d->Width <= 0 || d->Height <= 0) {
        snprintf(st->message, sizeof st->message, "empty GIF frame");
        return CCODECS_CORRUPT;
    }
    return CCODECS_OK;
}

static void gif_end(gif_state *g) {
    int err;
    if (g->gif) DGifCloseFile(g->gif, &err);
}

int ccodecs_gif_header(const uint8_t *data, size_t size, const ccodecs_limits *limits, ccodecs_status *status) {
    gif_state g = { 0 };
    int rc = gif_begin(&g, data, size, limits, status);
    gif_end(&g);
    return rc;
}

// Index -> RGB through the frame's colour table (local, else global). Without any table PIL
// shows the frame as mode "L" (index = gray). Indices past the table map to black, as in PIL
// (fixture gif_small_table_8x6.gif).
static void paint(const ColorMapObject *map, int index, uint8_t *px) {
    if (!map) { px[0] = px[1] = px[2] = (uint8_t)index; return; }
    if (index >= map->ColorCount) { px[0] = px[1] = px[2] = 0; return; }
    px[0] = map->Colors[index].Red; px[1] = map->Colors[index].Green; px[2] = map->Colors[index].Blue;
}

int ccodecs_gif_decode(const uint8_t *data, size_t size, const ccodecs_limits *limits,
                       uint8_t *out, int32_t width, int32_t height, ccodecs_status *status) {
    gif_state g = { 0 };
    int rc = gif_begin(&g, data, size, limits, status);
    if (rc == CCODECS_OK && (g.canvas_w != width || g.canvas_h != height)) rc = CCODECS_CORRUPT;
    if (rc) { gif_end(&g); return rc; }
    GifImageDesc *d = &g.gif->Image;
    const ColorMapObject *map = d->ColorMap ? d->ColorMap : g.gif->SColorMap;
    int fw = d->Width, fh = d->Height;
    GifByteType *line = (GifByteType *)malloc((size_t)fw);
    if (!line) { gif_end(&g); return CCODECS_NO_MEMORY; }
    // PIL fills frame 0's canvas with the transparency index if there is one, else index 0.
    uint8_t fill[3];
    paint(map, g.transparency >= 0 ? g.transparency : 0, fill);
    for (size_t i = 0; i < (size_t)width * (size_t)height; i++) memcpy(out + 3 * i, fill, 3);
    static const int start[4] = { 0, 4, 2, 1 }, step[4] = { 8, 8, 4, 2 };
    int passes = d->Interlace ? 4 : 1;
    for (int p = 0; p < passes && rc == CCODECS_OK; p++) {
        int y0 = d->Interlace ? start[p] : 0, dy = d->Interlace ? step[p] : 1;
        for (int y = y0; y < fh; y += dy) {
            if (DGifGetLine(g.gif, line, fw) == GIF_ERROR) { rc = gif_fail(&g, g.gif->Error, status); break; }
            uint8_t *dst = out + (((size_t)(d->Top + y)) * (size_t)width + (size_t)d->Left) * 3;
            for (int x = 0; x < fw; x++) paint(map, line[x], dst + 3 * x);
        }
    }
    free(line);
    gif_end(&g);
    return rc;
}
