export { FakeCastDevice, selfSignedCert, type FakeCastDeviceOptions, type ReceivedMessage } from './device.js';
export { MdnsResponder, type CastServiceRecord } from './mdns-responder.js';
export type { Player, PlayerLoad, PlayerOptions, PlayerState, PlayerStatus, StartPlayer } from './player-types.js';
