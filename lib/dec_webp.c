/* dec_webp.c - WebP headers, checks and scaled decodes, libwebp. */
#include "dec_webp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

int dec_webp_animated(const unsigned char *data, size_t len)
{
	WebPBitstreamFeatures f;

	return WebPGetFeatures(data, len, &f) == VP8_STATUS_OK && f.has_animation;
}

int dec_webp_header(const unsigned char *data, size_t len, unsigned *w,
		    unsigned *h, char *msg, size_t size)
{
	WebPBitstreamFeatures f;
	WebPData wd = { data, len };
	WebPDemuxer *dmx;

	if (WebPGetFeatures(data, len, &f) != VP8_STATUS_OK) {
		snprintf(msg, size, "unreadable header");
		return -1;
	}
	*w = (unsigned)f.width, *h = (unsigned)f.height;
	if (!f.has_animation)
		return 0;
	/* The demuxer refuses frames outside the canvas, and a cut file. */
	dmx = WebPDemux(&wd);
	if (dmx == NULL) {
		snprintf(msg, size, "malformed animation");
		return -1;
	}
	*w = WebPDemuxGetI(dmx, WEBP_FF_CANVAS_WIDTH);
	*h = WebPDemuxGetI(dmx, WEBP_FF_CANVAS_HEIGHT);
	WebPDemuxDelete(dmx);
	return 0;
}

/* Decodes one bitstream (or a still file) at about 1/8 scale, throwing
 * the pixels away. */
static int check_frame(const uint8_t *data, size_t len, char *msg, size_t size)
{
	WebPDecoderConfig cfg;
	VP8StatusCode st;

	if (!WebPInitDecoderConfig(&cfg) ||
	    WebPGetFeatures(data, len, &cfg.input) != VP8_STATUS_OK) {
		snprintf(msg, size, "unreadable frame header");
		return -1;
	}
	cfg.options.use_scaling = 1;
	cfg.options.scaled_width = cfg.input.width >= 8 ? cfg.input.width / 8 : 1;
	cfg.options.scaled_height = cfg.input.height >= 8 ? cfg.input.height / 8 : 1;
	cfg.options.bypass_filtering = 1;
	cfg.output.colorspace = MODE_RGBA;
	st = WebPDecode(data, len, &cfg);
	WebPFreeDecBuffer(&cfg.output);
	if (st != VP8_STATUS_OK) {
		snprintf(msg, size, "%s", st == VP8_STATUS_NOT_ENOUGH_DATA
					     ? "file cut short"
					     : "corrupt bitstream");
		return -1;
	}
	return 0;
}

int dec_webp_check(const unsigned char *data, size_t len, char *msg,
		   size_t size)
{
	WebPData wd = { data, len };
	WebPDemuxer *dmx;
	WebPIterator it;
	int rc;

	if (!dec_webp_animated(data, len))
		return check_frame(data, len, msg, size);
	dmx = WebPDemux(&wd);
	if (dmx == NULL) {
		snprintf(msg, size, "malformed animation");
		return -1;
	}
	if (!WebPDemuxGetFrame(dmx, 1, &it)) {
		snprintf(msg, size, "animation without frames");
		rc = -1;
	} else {
		rc = check_frame(it.fragment.bytes, it.fragment.size, msg, size);
		WebPDemuxReleaseIterator(&it);
	}
	WebPDemuxDelete(dmx);
	return rc;
}

/* The size to decode a w x h image at to cover need_w x need_h, keeping
 * its aspect ratio; its own size when that is smaller. */
static void scaled_size(unsigned w, unsigned h, unsigned need_w, unsigned need_h,
			unsigned *sw, unsigned *sh)
{
	double s = fmax((double)need_w / w, (double)need_h / h);

	if (s >= 1.0 || need_w == 0 || need_h == 0) {
		*sw = w, *sh = h;
		return;
	}
	*sw = (unsigned)ceil(w * s), *sh = (unsigned)ceil(h * s);
	*sw = *sw < 1 ? 1 : *sw > w ? w : *sw;
	*sh = *sh < 1 ? 1 : *sh > h ? h : *sh;
}

/* The ICC profile of an extended file (ICCP chunk), if it has one. */
static void take_icc(const unsigned char *data, size_t len, struct decoded *out)
{
	WebPData wd = { data, len };
	WebPDemuxer *dmx = WebPDemux(&wd);
	WebPChunkIterator it;

	if (dmx == NULL)
		return;
	if ((WebPDemuxGetI(dmx, WEBP_FF_FORMAT_FLAGS) & ICCP_FLAG) &&
	    WebPDemuxGetChunk(dmx, "ICCP", 1, &it)) {
		if (it.chunk.size > 0 && (out->icc = malloc(it.chunk.size)) != NULL) {
			memcpy(out->icc, it.chunk.bytes, it.chunk.size);
			out->icc_len = it.chunk.size;
		}
		WebPDemuxReleaseChunkIterator(&it);
	}
	WebPDemuxDelete(dmx);
}

int dec_webp_decode(const unsigned char *data, size_t len, unsigned need_w,
		    unsigned need_h, struct decoded *out, struct err *e)
{
	WebPDecoderConfig cfg;
	VP8StatusCode st;
	unsigned sw, sh, ch;

	if (!WebPInitDecoderConfig(&cfg) ||
	    WebPGetFeatures(data, len, &cfg.input) != VP8_STATUS_OK)
		return err_set(e, ERR_UNPROCESSABLE,
			       "original cannot be decoded: unreadable header");
	if (cfg.input.has_animation)
		return err_set(e, ERR_INTERNAL, "an animated WebP is MagickCore's");
	scaled_size((unsigned)cfg.input.width, (unsigned)cfg.input.height, need_w,
		    need_h, &sw, &sh);
	ch = cfg.input.has_alpha ? 4 : 3;
	if (pixels_alloc(&out->px, sw, sh, ch, e) < 0)
		return -1;
	if (sw != (unsigned)cfg.input.width || sh != (unsigned)cfg.input.height) {
		cfg.options.use_scaling = 1;
		cfg.options.scaled_width = (int)sw;
		cfg.options.scaled_height = (int)sh;
	}
	/* The in-loop filter of a lossy file on a thread of its own, beside
	 * the decode: a tenth off a large one. */
	cfg.options.use_threads = 1;
	cfg.output.colorspace = ch == 4 ? MODE_RGBA : MODE_RGB;
	cfg.output.is_external_memory = 1;
	cfg.output.u.RGBA.rgba = out->px.data;
	cfg.output.u.RGBA.stride = (int)out->px.stride;
	cfg.output.u.RGBA.size = out->px.stride * sh;
	st = WebPDecode(data, len, &cfg);
	WebPFreeDecBuffer(&cfg.output);
	if (st != VP8_STATUS_OK) {
		decoded_release(out);
		return err_set(e, st == VP8_STATUS_OUT_OF_MEMORY ? ERR_BUSY
								  : ERR_UNPROCESSABLE,
			       "original cannot be decoded: %s",
			       st == VP8_STATUS_NOT_ENOUGH_DATA ? "file cut short"
								 : "corrupt bitstream");
	}
	out->ext_w = sw, out->ext_h = sh;
	take_icc(data, len, out);
	out->how = cfg.input.format == 2 ? "libwebp-lossless" : "libwebp";
	return 0;
}

size_t dec_webp_estimate(const unsigned char *data, size_t len,
			 unsigned need_w, unsigned need_h)
{
	WebPBitstreamFeatures f;
	unsigned sw, sh;
	size_t bytes;

	if (WebPGetFeatures(data, len, &f) != VP8_STATUS_OK)
		return 0;
	scaled_size((unsigned)f.width, (unsigned)f.height, need_w, need_h, &sw, &sh);
	bytes = pixels_bytes(sw, sh, 4) + (size_t)f.width * 4 * 48;
	/* Lossless (and an animation's frames) are held whole, as ARGB. */
	if (f.format != 1)
		bytes += (size_t)f.width * f.height * 4;
	return bytes;
}
