// Slice renderers: WebGPU (WGSL from /shaders/slice.wgsl) with a 2-D canvas fallback. Both
// draw one axial slice with window/level, a label overlay, zoom and pan, and the display's flips
// and transpose (orientation.js); the viewer decides what to show and calls render() when
// something changed.

/** @typedef {import('./orientation.js').ViewTransform} ViewTransform */
/** @typedef {{low: number, high: number}} WindowLevel */

const MAX_CLASSES = 16;
/** Bytes of the shader's `View` before its colours (slice.wgsl). */
const UNIFORM_HEADER = 48;

/**
 * Common state of both renderers.
 */
class RendererState {
  constructor() {
    /** @type {Float32Array|null} */ this.values = null;
    /** @type {Uint8Array|null} */ this.labels = null;
    this.width = 0;
    this.height = 0;
    /** @type {WindowLevel} */ this.window = { low: 0, high: 1 };
    /** @type {ViewTransform} */ this.view = { offsetX: 0, offsetY: 0, scale: 1 };
    this.opacity = 0.45;
    /** @type {number[][]} RGB 0–255 per label */ this.colors = [[0, 0, 0]];
    /** @type {Set<number>} labels whose overlay is hidden (shown as the scan) */ this.hidden = new Set();
  }

  /**
   * Keeps the slice being shown (row-major, `height` rows of `width`).
   * @param {Float32Array} values
   * @param {number} width
   * @param {number} height
   */
  keepSlice(values, width, height) {
    this.values = values;
    this.width = width;
    this.height = height;
  }
}

/** Draws with WebGPU. Create with `WebGpuRenderer.create`, which fails where WebGPU is missing. */
export class WebGpuRenderer extends RendererState {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {string} shaderUrl
   * @returns {Promise<WebGpuRenderer>}
   */
  static async create(canvas, shaderUrl) {
    if (!('gpu' in navigator)) throw new Error('this browser has no WebGPU');
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) throw new Error('no WebGPU adapter is available');
    const device = await adapter.requestDevice();
    const code = await (await fetch(shaderUrl)).text();
    const renderer = new WebGpuRenderer(canvas, device, code);
    renderer.adapter = adapter;
    return renderer;
  }

  /**
   * @param {HTMLCanvasElement} canvas
   * @param {GPUDevice} device
   * @param {string} code WGSL source
   */
  constructor(canvas, device, code) {
    super();
    this.kind = 'WebGPU';
    this.canvas = canvas;
    this.device = device;
    /** @type {GPUAdapter|null} kept alive with the device */
    this.adapter = null;
    this.context = /** @type {GPUCanvasContext} */ (canvas.getContext('webgpu'));
    this.format = navigator.gpu.getPreferredCanvasFormat();
    this.context.configure({
      device,
      format: this.format,
      alphaMode: 'opaque',
      usage: GPUTextureUsage.RENDER_ATTACHMENT | GPUTextureUsage.COPY_SRC,
    });
    const module = device.createShaderModule({ code });
    this.pipeline = device.createRenderPipeline({
      layout: 'auto',
      vertex: { module, entryPoint: 'vs_main' },
      fragment: { module, entryPoint: 'fs_main', targets: [{ format: this.format }] },
      primitive: { topology: 'triangle-list' },
    });
    this.uniforms = device.createBuffer({
      size: UNIFORM_HEADER + MAX_CLASSES * 16,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.scanTexture = null;
    this.maskTexture = null;
    this.bindGroup = null;
  }

  /**
   * @param {Float32Array} values row-major slice
   * @param {number} width
   * @param {number} height
   */
  setSlice(values, width, height) {
    if (width !== this.width || height !== this.height || !this.scanTexture) {
      this.scanTexture?.destroy();
      this.maskTexture?.destroy();
      this.scanTexture = this.device.createTexture({
        size: [width, height],
        format: 'r32float',
        usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST,
      });
      this.maskTexture = this.device.createTexture({
        size: [width, height],
        format: 'r8uint',
        usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST,
      });
      this.bindGroup = this.device.createBindGroup({
        layout: this.pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: this.uniforms } },
          { binding: 1, resource: this.scanTexture.createView() },
          { binding: 2, resource: this.maskTexture.createView() },
        ],
      });
    }
    this.keepSlice(values, width, height);
    this.device.queue.writeTexture(
      { texture: this.scanTexture },
      values,
      { bytesPerRow: width * 4 },
      [width, height],
    );
  }

  /** @param {Uint8Array|null} labels row-major label map of the current slice, or null */
  setMask(labels) {
    this.labels = labels;
    if (labels && this.maskTexture) {
      this.device.queue.writeTexture(
        { texture: this.maskTexture },
        labels,
        { bytesPerRow: this.width },
        [this.width, this.height],
      );
    }
  }

  render() {
    this.encodeAndSubmit(null);
  }

  /**
   * Renders a frame and reads it back (tests, screenshots): RGBA bytes, row-major.
   * @returns {Promise<{width: number, height: number, rgba: Uint8Array}>}
   */
  async readPixels() {
    const { width, height } = this.canvas;
    const bytesPerRow = Math.ceil((width * 4) / 256) * 256;
    const buffer = this.device.createBuffer({
      size: bytesPerRow * height,
      usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ,
    });
    this.encodeAndSubmit({ buffer, bytesPerRow });
    await buffer.mapAsync(GPUMapMode.READ);
    const raw = new Uint8Array(buffer.getMappedRange());
    const rgba = new Uint8Array(width * height * 4);
    const bgra = this.format.startsWith('bgra');
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = y * bytesPerRow + x * 4;
        const o = (y * width + x) * 4;
        rgba.set(bgra ? [raw[i + 2], raw[i + 1], raw[i], 255] : [raw[i], raw[i + 1], raw[i + 2], 255], o);
      }
    }
    buffer.unmap();
    buffer.destroy();
    return { width, height, rgba };
  }

  /**
   * Draws the current state; with `copy`, also copies the frame into a buffer.
   * @param {{buffer: GPUBuffer, bytesPerRow: number}|null} copy
   */
  encodeAndSubmit(copy) {
    if (!this.bindGroup) return;
    const u = new ArrayBuffer(UNIFORM_HEADER + MAX_CLASSES * 16);
    const f = new Float32Array(u);
    const i = new Uint32Array(u);
    f[0] = this.view.offsetX;
    f[1] = this.view.offsetY;
    f[2] = this.view.scale;
    f[3] = this.opacity;
    f[4] = this.window.low;
    f[5] = this.window.high;
    i[6] = this.labels ? 1 : 0;
    f.set(this.view.axes ?? [1, 0, 0, 1], 8);
    for (let c = 0; c < MAX_CLASSES; c++) {
      const rgb = this.colors[c] ?? [255, 255, 0];
      f.set([rgb[0] / 255, rgb[1] / 255, rgb[2] / 255, this.hidden.has(c) ? 0 : 1], UNIFORM_HEADER / 4 + c * 4);
    }
    this.device.queue.writeBuffer(this.uniforms, 0, u);
    const encoder = this.device.createCommandEncoder();
    const texture = this.context.getCurrentTexture();
    const pass = encoder.beginRenderPass({
      colorAttachments: [{
        view: texture.createView(),
        loadOp: 'clear',
        storeOp: 'store',
        clearValue: { r: 0, g: 0, b: 0, a: 1 },
      }],
    });
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bindGroup);
    pass.draw(3);
    pass.end();
    if (copy) {
      encoder.copyTextureToBuffer(
        { texture },
        { buffer: copy.buffer, bytesPerRow: copy.bytesPerRow },
        [this.canvas.width, this.canvas.height],
      );
    }
    this.device.queue.submit([encoder.finish()]);
  }
}

/** Draws with the 2-D canvas API where WebGPU is missing. */
export class CanvasRenderer extends RendererState {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    super();
    this.kind = '2-D canvas';
    this.canvas = canvas;
    this.context = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
    this.offscreen = document.createElement('canvas');
  }

  /**
   * @param {Float32Array} values
   * @param {number} width
   * @param {number} height
   */
  setSlice(values, width, height) {
    this.keepSlice(values, width, height);
    this.offscreen.width = width;
    this.offscreen.height = height;
  }

  /** @param {Uint8Array|null} labels */
  setMask(labels) {
    this.labels = labels;
  }

  render() {
    if (!this.values) return;
    const { width, height, values, labels } = this;
    const octx = /** @type {CanvasRenderingContext2D} */ (this.offscreen.getContext('2d'));
    const image = octx.createImageData(width, height);
    const span = Math.max(this.window.high - this.window.low, 1e-6);
    for (let p = 0; p < width * height; p++) {
      const g = Math.min(Math.max((values[p] - this.window.low) / span, 0), 1) * 255;
      let r = g;
      let gr = g;
      let b = g;
      const label = labels ? labels[p] : 0;
      if (label > 0 && !this.hidden.has(label)) {
        const c = this.colors[Math.min(label, MAX_CLASSES - 1)] ?? [255, 255, 0];
        r = g + (c[0] - g) * this.opacity;
        gr = g + (c[1] - g) * this.opacity;
        b = g + (c[2] - g) * this.opacity;
      }
      image.data.set([r, gr, b, 255], p * 4);
    }
    octx.putImageData(image, 0, 0);
    const ctx = this.context;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.imageSmoothingEnabled = false;
    const { scale, offsetX, offsetY } = this.view;
    const [a, b, c, d] = this.view.axes ?? [1, 0, 0, 1];
    ctx.setTransform(scale * a, scale * b, scale * c, scale * d, offsetX, offsetY);
    ctx.drawImage(this.offscreen, 0, 0);
  }

  /**
   * Renders a frame and reads it back (tests, screenshots): RGBA bytes, row-major.
   * @returns {Promise<{width: number, height: number, rgba: Uint8Array}>}
   */
  async readPixels() {
    this.render();
    const { width, height } = this.canvas;
    const rgba = new Uint8Array(this.context.getImageData(0, 0, width, height).data.buffer);
    return { width, height, rgba };
  }
}

/**
 * A renderer for `canvas`: WebGPU when it works, else the 2-D canvas, with the reason.
 * @param {HTMLCanvasElement} canvas
 * @param {string} shaderUrl
 * @param {boolean} allowWebGpu
 * @returns {Promise<{renderer: WebGpuRenderer|CanvasRenderer, reason: string|null}>}
 */
export async function createRenderer(canvas, shaderUrl, allowWebGpu) {
  if (allowWebGpu) {
    try {
      return { renderer: await WebGpuRenderer.create(canvas, shaderUrl), reason: null };
    } catch (e) {
      // A canvas that handed out a WebGPU context cannot give a 2-D one: use a fresh canvas.
      const fresh = /** @type {HTMLCanvasElement} */ (canvas.cloneNode(false));
      canvas.replaceWith(fresh);
      return { renderer: new CanvasRenderer(fresh), reason: String(/** @type {Error|undefined} */ (e)?.message ?? e) };
    }
  }
  return { renderer: new CanvasRenderer(canvas), reason: 'WebGPU disabled' };
}
