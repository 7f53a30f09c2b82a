export { MqttBridge, type MqttBridgeOptions } from './bridge.js';
export { parseMqttUrl, readMqttCredentials, type MqttCredentials } from './config.js';
export { deviceConfig, specState, discoveryTopic, stateTopic, commandTopic, PHASES, type Topics, type SpecState } from './discovery.js';
export { parseCommand, type Command } from './commands.js';
