// The AudioWorkletGlobalScope names the two worklets use (TypeScript's DOM library has the
// main-thread side only). tsconfig includes all of src/, so these names are visible everywhere
// to the type checker; only the *.worklet.ts files may use them.
declare const sampleRate: number;
declare abstract class AudioWorkletProcessor {
  readonly port: MessagePort;
  constructor(options?: AudioWorkletNodeOptions);
  abstract process(inputs: Float32Array[][], outputs: Float32Array[][], parameters: Record<string, Float32Array>): boolean;
}
declare function registerProcessor(
  name: string,
  ctor: new (options: AudioWorkletNodeOptions) => AudioWorkletProcessor,
): void;
