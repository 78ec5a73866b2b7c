//! The two front doors to the model, shared by the CLI and the page: image (one slice,
//! prompts in, masks out) and volume (prompts on any slice, propagation through the stack).
