// Types only (JSDoc for the type check, `npx tsc -p jsconfig.json`; nothing here runs and no
// page loads this file): the messages between the page (worker-client.js) and the model worker
// (worker.js), and the data that crosses it (weights manifests, scans, fit reports).
//
// A request is {id, type, ...payload}, the payload as `Requests[type]` says. The worker answers
// each with {id, ok: true, ...Replies[type]} or {id, ok: false, error}; besides, it sends
// progress notes ({type: 'progress', message}) and, for `segmentVolume`, one update per slice
// ({type: 'update', id, ...}) before the answer.

/**
 * A prompt's source (`prompt::pcsw::PromptSource`, serde's externally tagged enum in
 * snake_case): PCSW's window of `n` slices from `start`, 'fallback' (largest area),
 * 'component' (middle of the largest 3-D component), 'empty' (none found: the class is not
 * segmented) or 'user' (drawn or corrected on the page).
 * @typedef {{window: {n: number, start: number}}|'fallback'|'component'|'empty'|'user'} PromptSource
 */

/**
 * A correction click: a point of the prompt's slice the object includes (`positive`) or leaves
 * out.
 * @typedef {{point: number[], positive: boolean}} Click
 */

/**
 * One class's prompt, as the wasm API reads and writes it (pixel indices of the slice: x along
 * a row, y down the rows; the box is inclusive). `clicks` are a person's corrections on the
 * prompt's slice (absent when there are none).
 * @typedef {{class: number, prompt: {slice: number, box_xyxy: number[], point: number[],
 *   source: PromptSource}, clicks?: Click[]}} ClassPrompt
 */

/**
 * One class of a weights manifest (`weights::ClassInfo`): its value in the label map, name and
 * overlay colour (RGB 0–255).
 * @typedef {{label: number, name: string, color: number[]}} ManifestClass
 */

/**
 * How SSS weights make the label map from SAM-2's masks (`weights::LabelFusion`, kebab-case).
 * @typedef {'sam2'|{'with-coarse': {sam2_weight: number}}} LabelFusion
 */

/**
 * The parts of a weights manifest (`weights::Manifest`) the page reads. `model.kind` is
 * 'slice_net' or 'sss'; SSS weights also say how their label map is made (`label_fusion`) and
 * cleaned up (`post_process`: 'none', 'largest-component' or 'component-vote') and name their
 * SAM-2 config (`sam2`, among other fields the page does not read).
 * @typedef {object} Manifest
 * @property {string} name short name shown in the page
 * @property {string} modality 'mri' or 'ct'
 * @property {ManifestClass[]} classes background (label 0) first
 * @property {{kind: string, label_fusion?: LabelFusion, post_process?: string,
 *   sam2?: {name: string, image_size: number}}} model
 * @property {string} weights_file the weights, relative to the manifest
 */

/** The loaded weights' kind: one slice at a time, or the volume from prompts. @typedef {'slice-net'|'sss'} WeightsKind */

/**
 * What a scan's intensities say about its modality (the wasm `Scan.modality`).
 * @typedef {{modality: string, reason: string}} ModalityGuess
 */

/**
 * A file the page opens: its name and bytes.
 * @typedef {{name: string, bytes: ArrayBuffer}} ScanFile
 */

/**
 * The volumes one class takes in the weights' labeled training scans (ml).
 * @typedef {{min_ml: number, max_ml: number, scans: number}} VolumeRange
 */

/**
 * The fit check of a finished label map (`predictor::fit::FitReport`): per foreground class its
 * volume against the training range and the verdict ('absent', 'within', 'far-below',
 * 'far-above', 'unknown'); `message` is empty when there is nothing to say.
 * @typedef {{classes: {label: number, name: string, volume_ml: number, range?: VolumeRange|null,
 *   verdict: string}[], fits: boolean, message: string}} FitReport
 */

/** A request or answer that carries nothing besides its id and type. @typedef {{}} NoPayload */

/**
 * Running totals of the model's WebGPU work since the worker began counting (gpu-counters.js,
 * the page's `?gpu-counters`), or what was counted between two such snapshots: compute
 * dispatches (`dispatchWorkgroups` and its indirect form), queue submits, pipelines created
 * (compute or render, sync or async), read-backs (`mapAsync` for reading), buffer-to-buffer
 * copies, buffers created and destroyed and their bytes.
 * @typedef {{dispatches: number, submits: number, pipelines: number, readbacks: number,
 *   copies: number, buffersCreated: number, buffersDestroyed: number, bytesCreated: number,
 *   bytesDestroyed: number}} GpuCounts
 */

/**
 * One propagated slice's WebGPU work (what was counted since the previous slice, or since the
 * run began for the first), with the buffers alive after it and their bytes.
 * @typedef {GpuCounts & {liveBuffers: number, liveBytes: number}} GpuSliceCounts
 */

/**
 * What the worker holds (the `stats` request): its wasm instance's linear memory in bytes
 * (`memory.buffer.byteLength`: it grows and never shrinks) and, when counting, the WebGPU
 * totals since start-up with the buffers alive (`gpu`; null without `?gpu-counters`).
 * @typedef {{wasmMemoryBytes: number, gpu: GpuSliceCounts|null}} WorkerStats
 */

/** One SAM-2 stage's timings in ms. @typedef {{first_ms: number, median_ms: number}} StageTiming */

/**
 * SAM-2's stages timed on the worker's device for the loaded weights' config (the wasm
 * `benchSam2Stages`, the crate's `stage_timing`, which `sss bench` shares).
 * @typedef {object} StageTimings
 * @property {string} config
 * @property {number} image_size
 * @property {number} iters timed runs per stage (the median's sample)
 * @property {number} warmup untimed runs between the first and the timed ones
 * @property {number} memory_frames memories in the propagation step's bank
 * @property {StageTiming} image_encoder
 * @property {StageTiming} prompt_and_decoder
 * @property {StageTiming} propagation_step
 */

/**
 * Each request's payload, by type.
 * @typedef {object} Requests
 * @property {{preferWebGpu: boolean, gpuCounters?: boolean}} init starts the runtime on WebGPU
 *   or the CPU; with `gpuCounters` (the page's `?gpu-counters`) the worker counts its WebGPU
 *   work first (gpu-counters.js)
 * @property {{manifestUrl: string}} loadWeights an absolute URL
 * @property {{files: ScanFile[]}} openScan one NIfTI file, one PNG or JPEG image, or the files
 *   of a DICOM series
 * @property {{labels: Uint8Array}} exportLabels the label map to write as `.nii.gz`
 * @property {{z: number}} segment slice networks: one slice
 * @property {NoPayload} autoPrompts SSS: the coarse head and PCSW's prompts
 * @property {{prompts: ClassPrompt[]}} segmentVolume SSS: SAM-2's propagation of the prompts
 * @property {{z: number, prompts: ClassPrompt[]}} previewSlice SSS: one slice's masks at once
 * @property {NoPayload} stop ends a running `segmentVolume` after its slice
 * @property {NoPayload} stats the worker's memory and WebGPU counts, for tests and soaks
 * @property {{iters: number, warmup: number}} benchStages SSS: times SAM-2's stages (the page's
 *   benchmark, scripts/bench-page.sh)
 * @property {NoPayload} crashForTest the worker dies right after answering
 */

/** @typedef {keyof Requests} RequestType */
/**
 * The requests that carry nothing (their payload may be left out).
 * @typedef {{[T in RequestType]: NoPayload extends Requests[T] ? T : never}[RequestType]} BareRequestType
 */

/**
 * Each request's answer (besides {id, ok: true}), by type. Label maps are x fastest.
 * @typedef {object} Replies
 * @property {{backend: string, fallbackReason: string|null}} init the backend ('WebGPU' or
 *   'flex (CPU)') and why WebGPU is not used, when it is not
 * @property {{manifest: Manifest, kind: WeightsKind}} loadWeights
 * @property {{dims: number[], spacing: number[], voxels: Float32Array, window: number[],
 *   modality: ModalityGuess|null, notes: string[], affine: number[]|null}} openScan `dims`
 *   [nx, ny, nz], `spacing` in mm, `window` the 0.5–99.5 percentiles, `affine` the voxel-to-world
 *   affine (RAS+, row-major 4×4; null for an image without patient orientation: PNG, JPEG)
 * @property {{bytes: Uint8Array<ArrayBuffer>}} exportLabels the `.nii.gz` file
 * @property {{z: number, width: number, height: number, labels: Uint8Array, ms: number}} segment
 * @property {{prompts: ClassPrompt[], coarse: Uint8Array, ms: number}} autoPrompts `coarse`: the
 *   coarse head's label map
 * @property {{labels: Uint8Array, ms: number, fit: FitReport}} segmentVolume
 * @property {{z: number, labels: Uint8Array, encoded: boolean, ms: number}} previewSlice
 *   `encoded`: whether the image encoder ran
 * @property {NoPayload} stop
 * @property {WorkerStats} stats
 * @property {StageTimings} benchStages
 * @property {NoPayload} crashForTest
 */

/**
 * A request as posted to the worker.
 * @template {RequestType} [K=RequestType]
 * @typedef {{[T in K]: {id: number, type: T} & Requests[T]}[K]} WorkerRequest
 */

/**
 * The worker's answer to a request of type `K`.
 * @template {RequestType} [K=RequestType]
 * @typedef {{[T in K]: {id: number, ok: true, type?: undefined} & Replies[T]}[K]} WorkerAnswer
 */

/** A request failed. @typedef {{id: number, ok: false, type?: undefined, error: string}} Failure */

/** What the worker is doing, in words. @typedef {{type: 'progress', message: string}} ProgressNote */

/**
 * One slice SAM-2 propagated (`segmentVolume`, before its answer): the slice's label map (x
 * fastest), slices done and in all, and per tracked class there (`classes`) SAM-2's object
 * score logit (`scores`; above 0: the object is there) and the mask decoder's predicted IoU of
 * the mask it chose (`ious`, in [0, 1]; 1 for a mask prompt). With `?gpu-counters`, `gpu`: the
 * WebGPU work of this slice (what was counted since the previous update).
 * @typedef {{type: 'update', id: number, z: number, done: number, total: number,
 *   labels: Uint8Array, classes: number[], scores: number[], ious: number[],
 *   gpu?: GpuSliceCounts}} VolumeUpdate
 */

/** Every message the worker posts. @typedef {ProgressNote|VolumeUpdate|WorkerAnswer|Failure} WorkerMessage */

export {};
