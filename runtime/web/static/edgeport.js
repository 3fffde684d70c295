// edgeport in the browser: the device runtime's preprocessing (runtime/preprocess/) written once in JS,
// driven by the manifest's own description, and the model on the site's pinned engine.
// No build step: an ES module the page imports; the engine is imported only when a model is loaded.

// ------------------------------------------------------------------ text

// Keras' classic pipeline: lower-case, every filter character becomes the split string, split on it, drop
// empty words; start_char first, a word's id when skip_top <= id < num_words, else oov_char (or left out
// when oov_char is null); cut and pad to maxlen as `truncating` and `padding` say.
export class Tokenizer {
  constructor(spec, vocabulary, maxlen) {
    const defaults = {num_words: null, skip_top: 0, start_char: 1, oov_char: 2, padding: 'pre', truncating: 'pre',
                      lowercase: true, filters: '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n', split: ' ', pad_char: 0,
                      split_pattern: null};
    this.spec = {...defaults, ...spec};
    if (this.spec.split_pattern !== null) {
      throw new Error('this site cannot split on a regular expression (manifest.preprocessing.split_pattern)');
    }
    this.maxlen = maxlen;
    const low = this.spec.skip_top, high = this.spec.num_words;
    this.ids = new Map();  // a Map, not an object: words such as "constructor" or "__proto__" stay plain words
    for (const [word, id] of Object.entries(vocabulary)) {
      if (low <= id && (high === null || id < high)) this.ids.set(word, id);
    }
    this.filters = new Set(Array.from(this.spec.filters));
  }

  words(text) {
    const s = this.spec;
    if (s.lowercase) text = text.toLowerCase();
    let out = '';
    for (const ch of text) out += this.filters.has(ch) ? s.split : ch;
    return out.split(s.split).filter((w) => w.length > 0);
  }

  tokenIds(text) {
    const s = this.spec, oov = s.oov_char;
    const ids = [];
    for (const w of this.words(text)) {
      const id = this.ids.has(w) ? this.ids.get(w) : oov;
      if (id !== null) ids.push(id);
    }
    return s.start_char !== null ? [s.start_char, ...ids] : ids;
  }

  // One text → Int32Array(maxlen), as keras.utils.pad_sequences gives it.
  encode(text) {
    if (typeof text !== 'string') throw new TypeError(`this text model takes a string, got ${typeof text}`);
    const s = this.spec, n = this.maxlen;
    let seq = this.tokenIds(text);
    if (seq.length > n) seq = s.truncating === 'pre' ? seq.slice(seq.length - n) : seq.slice(0, n);
    const out = new Int32Array(n).fill(s.pad_char);
    out.set(seq, s.padding === 'pre' ? n - seq.length : 0);
    return out;
  }
}

// ------------------------------------------------------------------ images

const PRECISION_BITS = 32 - 8 - 2;  // Pillow's fixed point for 8-bit resampling (libImaging/Resample.c)
const FILTERS = {  // Pillow's filters and their support
  nearest: null,
  bilinear: {support: 1.0, f: (x) => { x = Math.abs(x); return x < 1.0 ? 1.0 - x : 0.0; }},
  box: {support: 0.5, f: (x) => (x > -0.5 && x <= 0.5 ? 1.0 : 0.0)},
  hamming: {support: 1.0, f: (x) => {
    x = Math.abs(x);
    if (x === 0.0) return 1.0;
    if (x >= 1.0) return 0.0;
    x *= Math.PI;
    return (Math.sin(x) / x) * (0.54 + 0.46 * Math.cos(x));
  }},
  bicubic: {support: 2.0, f: (x) => {
    const a = -0.5;
    x = Math.abs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
  }},
  lanczos: {support: 3.0, f: (x) => {
    const sinc = (v) => { if (v === 0.0) return 1.0; v *= Math.PI; return Math.sin(v) / v; };
    return x > -3.0 && x < 3.0 ? sinc(x) * sinc(x / 3.0) : 0.0;
  }},
};

// Pillow's precompute_coeffs + normalize_coeffs_8bpc: per output pixel, the first input pixel, the count and
// the fixed-point weights.
function coefficients(inSize, in0, in1, outSize, filter) {
  const scale = (in1 - in0) / outSize;
  const filterscale = Math.max(scale, 1.0);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2), kk = new Int32Array(outSize * ksize), w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    const ss = 1.0 / filterscale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) { w[x] = filter.f((x + xmin - center + 0.5) * ss); ww += w[x]; }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0.0 ? w[x] / ww : w[x];
      kk[xx * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * (1 << PRECISION_BITS)) : Math.trunc(0.5 + k * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return {bounds, kk, ksize};
}

const clip8 = (v) => (v <= 0 ? 0 : v >= (255 << PRECISION_BITS) + (1 << PRECISION_BITS) - 1 ? 255 : Math.floor(v / (1 << PRECISION_BITS)));

// RGB uint8 (h, w, 3) → (outH, outW, 3), exactly as Pillow's Image.resize(size, filter, box) on an RGB image:
// a horizontal pass over the rows the vertical pass needs, then a vertical pass, each rounded to uint8.
export function resizeRGB(src, width, height, outW, outH, interpolation = 'bilinear', box = null) {
  box = box || [0, 0, width, height];
  if (interpolation === 'nearest') return resizeNearest(src, width, height, outW, outH, box);
  const filter = FILTERS[interpolation];
  if (!filter) throw new Error(`unknown interpolation ${interpolation}`);
  const needH = outW !== width || box[0] !== 0 || box[2] !== outW;
  const needV = outH !== height || box[1] !== 0 || box[3] !== outH;
  const h = coefficients(width, box[0], box[2], outW, filter);
  const v = coefficients(height, box[1], box[3], outH, filter);
  let img = src, w = width, rows = height;
  let vb = v.bounds;
  if (needH) {
    const first = v.bounds[0], last = v.bounds[outH * 2 - 2] + v.bounds[outH * 2 - 1];
    vb = v.bounds.map((b, i) => (i % 2 === 0 ? b - first : b));
    rows = last - first;
    const tmp = new Uint8Array(outW * rows * 3);
    for (let y = 0; y < rows; y++) {
      const row = (y + first) * width * 3;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = h.bounds[xx * 2], xmax = h.bounds[xx * 2 + 1], k = xx * h.ksize;
        let s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
        for (let x = 0; x < xmax; x++) {
          const p = row + (x + xmin) * 3, c = h.kk[k + x];
          s0 += img[p] * c; s1 += img[p + 1] * c; s2 += img[p + 2] * c;
        }
        const o = (y * outW + xx) * 3;
        tmp[o] = clip8(s0); tmp[o + 1] = clip8(s1); tmp[o + 2] = clip8(s2);
      }
    }
    img = tmp; w = outW;
  }
  if (!needV) return img;
  const out = new Uint8Array(w * outH * 3);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = vb[yy * 2], ymax = vb[yy * 2 + 1], k = yy * v.ksize;
    for (let xx = 0; xx < w; xx++) {
      let s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
      for (let y = 0; y < ymax; y++) {
        const p = ((y + ymin) * w + xx) * 3, c = v.kk[k + y];
        s0 += img[p] * c; s1 += img[p + 1] * c; s2 += img[p + 2] * c;
      }
      const o = (yy * w + xx) * 3;
      out[o] = clip8(s0); out[o + 1] = clip8(s1); out[o + 2] = clip8(s2);
    }
  }
  return out;
}

function resizeNearest(src, width, height, outW, outH, box) {  // Pillow's affine nearest: pixel centres
  const out = new Uint8Array(outW * outH * 3);
  const sx = (box[2] - box[0]) / outW, sy = (box[3] - box[1]) / outH;
  for (let y = 0; y < outH; y++) {
    const yi = Math.min(Math.floor(box[1] + (y + 0.5) * sy), height - 1);
    for (let x = 0; x < outW; x++) {
      const xi = Math.min(Math.floor(box[0] + (x + 0.5) * sx), width - 1);
      out.set(src.subarray((yi * width + xi) * 3, (yi * width + xi) * 3 + 3), (y * outW + x) * 3);
    }
  }
  return out;
}

// keras.utils.load_img(keep_aspect_ratio=True)'s centre crop.
function aspectCrop(width, height, targetW, targetH) {
  const cropH = Math.min(height, Math.floor((width * targetH) / targetW));
  const cropW = Math.min(width, Math.floor((height * targetW) / targetH));
  const x = Math.floor((width - cropW) / 2), y = Math.floor((height - cropH) / 2);
  return [x, y, x + cropW, y + cropH];
}

// An image URL (same origin) or Blob → its decoded RGB pixels at full size: the browser's own JPEG/PNG decoder,
// no colour management, no EXIF rotation, alpha dropped (as Pillow's convert("RGB")).
export async function decodeImage(input) {
  let blob = input;
  if (typeof input === 'string') {
    const response = await fetch(input);
    if (!response.ok) throw new Error(`cannot fetch image ${input}: HTTP ${response.status}`);
    blob = await response.blob();
  }
  if (!(blob instanceof Blob)) throw new TypeError('an image model takes an image URL or a Blob (a File)');
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, {colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image'});
  } catch (err) {
    throw new Error(`this file is not an image the browser can decode (JPEG, PNG, GIF, WebP, BMP): ${err.message}`);
  }
  const {width, height} = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', {willReadFrequently: true, colorSpace: 'srgb'});
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, width, height, {colorSpace: 'srgb'}).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) { rgb[j] = rgba[i]; rgb[j + 1] = rgba[i + 1]; rgb[j + 2] = rgba[i + 2]; }
  return {rgb, width, height};
}

const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68];

// 0..255 RGB → the model's input scale (runtime.preprocess.normalize), in float32 arithmetic.
export function normalize(pixels, spec) {
  const mode = spec.normalization || 'none';
  if (spec.dtype === 'uint8') return Uint8Array.from(pixels);
  const out = new Float32Array(pixels.length), f = Math.fround;
  if (mode === 'mobilenet' || mode === 'tf') {
    for (let i = 0; i < pixels.length; i++) out[i] = f(pixels[i] / 127.5) - 1;
  } else if (mode === 'unit') {
    for (let i = 0; i < pixels.length; i++) out[i] = pixels[i] / 255;
  } else if (mode === 'imagenet-caffe') {
    for (let i = 0; i < pixels.length; i += 3) {
      for (let c = 0; c < 3; c++) out[i + c] = pixels[i + 2 - c] - f(CAFFE_MEAN_BGR[c]);
    }
  } else if (mode === 'mean-std') {
    for (let i = 0; i < pixels.length; i++) out[i] = f(pixels[i] - f(spec.mean[i % 3])) / f(spec.std[i % 3]);
  } else if (mode === 'none') {
    out.set(pixels);
  } else {
    throw new Error(`unknown normalization ${mode}`);
  }
  return out;
}

// An image → the model's (height, width, 3) input, as runtime.preprocess.ImagePreprocessor gives it.
export async function imageTensor(input, spec) {
  const [outH, outW] = spec.size;
  const {rgb, width, height} = await decodeImage(input);
  const box = spec.keep_aspect_ratio ? aspectCrop(width, height, outW, outH) : null;
  const same = width === outW && height === outH && !box;
  const pixels = same ? rgb : resizeRGB(rgb, width, height, outW, outH, spec.interpolation || 'nearest', box);
  return normalize(pixels, spec);
}

// ------------------------------------------------------------------ quantised edges

const INTEGER_ARRAYS = {uint8: [Uint8Array, 0, 255], int8: [Int8Array, -128, 127]};

// Real values → the input's integers as LiteRT's XNNPACK kernel rounds them (runtime.quant, "xnnpack"):
// x * (1 / scale) in float32, ties to even, plus the zero point, saturated. An input already of that type passes.
export function quantize(data, tensor) {
  const [Type, low, high] = INTEGER_ARRAYS[tensor.dtype];
  if (data instanceof Type) return data;
  const f = Math.fround, inverse = f(1 / f(tensor.scale)), out = new Type(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = f(data[i] * inverse), r = Math.floor(v), d = v - r;
    const rounded = d > 0.5 || (d === 0.5 && r % 2 !== 0) ? r + 1 : r;
    out[i] = Math.min(high, Math.max(low, rounded + tensor.zero_point));
  }
  return out;
}

// Integers → real values: scale * (q - zero_point), rounded once to float32 (runtime.quant.dequantize).
export function dequantize(q, tensor) {
  return Float32Array.from(q, (v) => tensor.scale * (v - tensor.zero_point));
}

// ------------------------------------------------------------------ engines

async function onnxruntimeWeb(modelBytes, threads) {
  const ort = await import('./engine/ort.wasm.min.mjs');
  ort.env.wasm.wasmPaths = new URL('./engine/', import.meta.url).href;
  ort.env.wasm.numThreads = threads;
  const session = await ort.InferenceSession.create(modelBytes, {executionProviders: ['wasm'], graphOptimizationLevel: 'all'});
  return {
    threads: ort.env.wasm.numThreads,
    async run(data, shape, dtype) {
      const feeds = {[session.inputNames[0]]: new ort.Tensor(dtype, data, shape)};
      const results = await session.run(feeds);
      return results[session.outputNames[0]].data;
    },
  };
}

async function litertJs(modelBytes, threads) {
  const litert = await import('./engine/litert.js');
  await litert.loadLiteRt(new URL('./engine/', import.meta.url).href, {threads: threads > 1});
  const model = await litert.loadAndCompile(modelBytes, {accelerator: 'wasm', cpuOptions: {numThreads: threads}});
  return {
    threads,
    async run(data, shape) {
      const input = new litert.Tensor(data, shape);
      try {
        const outputs = await model.run([input]);
        const values = outputs[0].toTypedArray().slice();
        for (const t of outputs) t.delete();
        return values;
      } finally {
        input.delete();
      }
    },
  };
}

const ENGINES = {'onnxruntime-web': onnxruntimeWeb, 'litert.js': litertJs};

// ------------------------------------------------------------------ the model

async function fetchOk(url, what) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${what} (${url}): HTTP ${response.status}`);
  return response;
}

// The site's model: `predict(input)` resolves to the class probabilities in label order (a string for a text
// model; an image URL of the same origin or a Blob for an image model). `lastTiming` holds the milliseconds of
// the last call: {preprocess, model}.
export async function loadModel(base = '.', options = {}) {
  const root = new URL(base.endsWith('/') ? base : base + '/', location.href);
  const site = await (await fetchOk(new URL('site.json', root), 'site.json')).json();
  const params = new URLSearchParams(location.search);
  const wanted = Number(options.threads || params.get('threads') ||
                        (self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1));
  const threads = self.crossOriginIsolated ? Math.max(1, wanted) : 1;  // WebAssembly threads need COOP/COEP
  const modelBytes = new Uint8Array(await (await fetchOk(new URL(site.model, root), 'the model')).arrayBuffer());
  const engine = await ENGINES[site.engine](modelBytes, threads);
  const spec = site.preprocessing;
  const shape = site.input.shape.map((d) => (d === null || d < 0 ? 1 : d));
  let tokenizer = null;
  if (site.kind === 'text') {
    const vocab = await (await fetchOk(new URL(spec.vocabulary, root), 'the vocabulary')).json();
    tokenizer = new Tokenizer(spec, vocab, shape[1]);
  }
  const model = {
    site, threads: engine.threads, labels: site.labels, lastTiming: null,
    // The model's input for one raw item (token ids, or the normalised pixels), as a typed array.
    async input(item) {
      if (tokenizer) return tokenizer.encode(item);
      if (typeof item !== 'string' && !(item instanceof Blob)) {
        throw new TypeError('an image model takes an image URL or a Blob (a File)');
      }
      return imageTensor(item, spec);
    },
    async predict(item) {
      const t0 = performance.now();
      const data = await model.input(item);
      const t1 = performance.now();
      const fed = site.input.scale ? quantize(data, site.input) : data;
      const out = await engine.run(fed, shape, site.input.dtype);
      const raw = site.output.scale ? dequantize(out, site.output) : out;
      const t2 = performance.now();
      model.lastTiming = {preprocess: t1 - t0, model: t2 - t1};
      return raw.length === 1 && site.labels.length === 2 ? [1 - raw[0], raw[0]] : Array.from(raw, Number);
    },
  };
  return model;
}
