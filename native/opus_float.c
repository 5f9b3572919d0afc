// xcast_opus: libopus's float decoder for the mix thread's hot path, straight into the caller's Float32Array.
//
// Why not @discordjs/opus here: its decode() returns a fresh s16 Buffer per packet (a JS object and a 1.9 KB
// backing store per track per 10 ms: at 250 tracks, 25,000 a second, which made the mix thread's isolate run a
// full mark-compact every ~2 s on "external memory pressure", 20–130 ms each, a missed tick each time), and it
// exposes neither libopus's float output nor concealment of an exact duration. This is the decoder only, against
// the system's libopus (Debian libopus-dev); encoding stays on @discordjs/opus. Every size is checked here too
// (the JS side checks first): nothing is written outside `out`.
#include <node_api.h>
#include <opus.h>
#include <stdlib.h>

typedef struct {
  OpusDecoder* dec;
  int channels;
} Dec;

static const napi_type_tag DEC_TAG = {0x78636173746f7075ULL, 0x73666c6f61743031ULL};

static void finalize(napi_env env, void* data, void* hint) {
  (void)env; (void)hint;
  Dec* d = (Dec*)data;
  if (d->dec) opus_decoder_destroy(d->dec);
  free(d);
}

static napi_value fail(napi_env env, const char* msg) {
  napi_throw_range_error(env, NULL, msg);
  return NULL;
}

static int get_int(napi_env env, napi_value v, int32_t* out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

// create(sampleRate, channels) -> handle
static napi_value Create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t rate, ch;
  if (argc < 2 || !get_int(env, argv[0], &rate) || !get_int(env, argv[1], &ch)) return fail(env, "xcast_opus.create(sampleRate, channels)");
  if (ch != 1 && ch != 2) return fail(env, "xcast_opus.create: channels must be 1 or 2");
  int err = 0;
  OpusDecoder* od = opus_decoder_create(rate, ch, &err);
  if (err != OPUS_OK || od == NULL) return fail(env, opus_strerror(err));
  Dec* d = (Dec*)malloc(sizeof(Dec));
  if (d == NULL) { opus_decoder_destroy(od); return fail(env, "xcast_opus.create: out of memory"); }
  d->dec = od;
  d->channels = ch;
  napi_value ext;
  if (napi_create_external(env, d, finalize, NULL, &ext) != napi_ok) { finalize(env, d, NULL); return NULL; }
  napi_type_tag_object(env, ext, &DEC_TAG);
  return ext;
}

static Dec* unwrap(napi_env env, napi_value v) {
  bool ok = false;
  if (napi_check_object_type_tag(env, v, &DEC_TAG, &ok) != napi_ok || !ok) return NULL;
  void* p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return (Dec*)p;
}

// decode(handle, packet: Uint8Array | null, out: Float32Array, offset, frames) -> samples per channel decoded,
// or a negative libopus error (OPUS_INVALID_PACKET …). A null packet conceals exactly `frames` (libopus PLC).
static napi_value Decode(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) return fail(env, "xcast_opus.decode(handle, packet, out, offset, frames)");
  Dec* d = unwrap(env, argv[0]);
  if (d == NULL) return fail(env, "xcast_opus.decode: not a decoder");
  const unsigned char* pkt = NULL;
  size_t pktLen = 0;
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (t != napi_null) {
    bool isTa = false;
    napi_is_typedarray(env, argv[1], &isTa);
    if (!isTa) return fail(env, "xcast_opus.decode: packet must be a Uint8Array or null");
    napi_typedarray_type tt;
    void* data;
    napi_get_typedarray_info(env, argv[1], &tt, &pktLen, &data, NULL, NULL);
    if (tt != napi_uint8_array) return fail(env, "xcast_opus.decode: packet must be a Uint8Array");
    if (pktLen == 0 || pktLen > 1275 * 48) return fail(env, "xcast_opus.decode: packet length");
    pkt = (const unsigned char*)data;
  }
  bool isTa = false;
  napi_is_typedarray(env, argv[2], &isTa);
  if (!isTa) return fail(env, "xcast_opus.decode: out must be a Float32Array");
  napi_typedarray_type ot;
  size_t outLen;
  void* outData;
  napi_get_typedarray_info(env, argv[2], &ot, &outLen, &outData, NULL, NULL);
  if (ot != napi_float32_array) return fail(env, "xcast_opus.decode: out must be a Float32Array");
  int32_t offset, frames;
  if (!get_int(env, argv[3], &offset) || !get_int(env, argv[4], &frames)) return fail(env, "xcast_opus.decode: offset and frames must be integers");
  if (offset < 0 || frames <= 0 || (size_t)offset + (size_t)frames * (size_t)d->channels > outLen) return fail(env, "xcast_opus.decode: out is too small for frames at offset");
  int n = opus_decode_float(d->dec, pkt, (opus_int32)pktLen, (float*)outData + offset, frames, 0);
  napi_value r;
  napi_create_int32(env, n, &r);
  return r;
}

// reset(handle): OPUS_RESET_STATE
static napi_value Reset(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Dec* d = argc ? unwrap(env, argv[0]) : NULL;
  if (d == NULL) return fail(env, "xcast_opus.reset: not a decoder");
  opus_decoder_ctl(d->dec, OPUS_RESET_STATE);
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"create", NULL, Create, NULL, NULL, NULL, napi_default, NULL},
    {"decode", NULL, Decode, NULL, NULL, NULL, napi_default, NULL},
    {"reset", NULL, Reset, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  napi_value v;
  napi_create_string_utf8(env, opus_get_version_string(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, exports, "libopus", v);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
