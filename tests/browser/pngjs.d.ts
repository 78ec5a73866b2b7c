// pngjs ships plain JS without types: the members image-orientation.test.mjs uses, as its
// README describes them (a PNG of `width` × `height` RGBA pixels in `data`, written at once).
declare module 'pngjs' {
  export class PNG {
    constructor(options: { width: number; height: number });
    width: number;
    height: number;
    /** RGBA, 4 bytes a pixel, rows top to bottom. */
    data: Buffer;
    static sync: {
      /** The PNG file's bytes. */
      write(png: PNG): Buffer;
    };
  }
}
