// Slice display: one full-canvas triangle; the fragment shader maps the canvas pixel through
// the view transform (zoom, pan, the display's flips and transpose) to a voxel, applies
// window/level to the scan value and blends the label colour over it. Textures are sampled with textureLoad (nearest voxel): r32float is
// not filterable everywhere, and nearest is what a reader of medical images expects.

struct View {
  // canvas pixel -> slice pixel: slice = transpose(A) * (canvas - offset) / scale (A: `axes`)
  offset: vec2<f32>,
  scale: f32,
  opacity: f32,
  // window: value -> (value - low) / (high - low)
  low: f32,
  high: f32,
  has_mask: u32,
  _pad: u32,
  // The slice's axes on the canvas (web/js/orientation.js): canvas - offset = scale * A * slice,
  // A = [[axes.x, axes.z], [axes.y, axes.w]], a signed permutation, whose inverse is its transpose.
  axes: vec4<f32>,
  colors: array<vec4<f32>, 16>,
};

@group(0) @binding(0) var<uniform> view: View;
@group(0) @binding(1) var scan: texture_2d<f32>;
@group(0) @binding(2) var mask: texture_2d<u32>;

struct VertexOut {
  @builtin(position) position: vec4<f32>,
};

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOut {
  // A triangle that covers the whole clip space.
  let xy = vec2<f32>(f32((index << 1u) & 2u), f32(index & 2u));
  var out: VertexOut;
  out.position = vec4<f32>(xy * 2.0 - 1.0, 0.0, 1.0);
  return out;
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
  let size = vec2<f32>(textureDimensions(scan));
  let q = (in.position.xy - view.offset) / view.scale;
  let p = vec2<f32>(view.axes.x * q.x + view.axes.y * q.y, view.axes.z * q.x + view.axes.w * q.y);
  if (p.x < 0.0 || p.y < 0.0 || p.x >= size.x || p.y >= size.y) {
    return vec4<f32>(0.0, 0.0, 0.0, 1.0);
  }
  let texel = vec2<i32>(floor(p));
  let value = textureLoad(scan, texel, 0).r;
  let grey = clamp((value - view.low) / max(view.high - view.low, 1e-6), 0.0, 1.0);
  var color = vec3<f32>(grey);
  if (view.has_mask != 0u) {
    let label = textureLoad(mask, texel, 0).r;
    if (label > 0u) {
      // The colour's alpha is 0 for a class the user hid, 1 otherwise.
      let tint = view.colors[min(label, 15u)];
      color = mix(color, tint.rgb, view.opacity * tint.a);
    }
  }
  return vec4<f32>(color, 1.0);
}
