export { FakeCastDevice, selfSignedCert, type DeviceFrame, type DeviceSampleError, type FakeCastDeviceOptions, type ReceivedMessage } from './device.js';
export { MdnsResponder, type CastServiceRecord } from './mdns-responder.js';
export type { Player, PlayerLoad, PlayerOptions, PlayerState, PlayerStatus, StartPlayer } from './player-types.js';
export { FrameSampler, decodeGrid, type SampleError, type SampleFramesOptions, type SampledFrame } from './frame-sampler.js';
export { DEFAULT_TOLERANCE, MIXED, colourOf, describeRuns, meanColour, nameFrames, runsOf, type ColourRun, type Palette, type Rgb } from './frame-colours.js';
