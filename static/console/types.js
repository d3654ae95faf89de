/**
 * The shapes the console uses, named once: every one comes from the generated spec types. A conversation,
 * message or note comes over REST (openapi.d.ts) or in a frame (frames.d.ts): the console takes either.
 *
 * @typedef {import("../types/openapi").components["schemas"]} Schemas
 * @typedef {Schemas["Me"]} Me
 * @typedef {import("../types/frames").Conversation | Schemas["Conversation"]} Conversation
 * @typedef {import("../types/frames").Message | Schemas["Message"]} Message
 * @typedef {import("../types/frames").MessageAttachment | Schemas["MessageAttachment"]} MessageAttachment
 * @typedef {import("../types/frames").Note | Schemas["Note"]} Note
 * @typedef {import("../types/frames").Visitor | Schemas["Visitor"]} Visitor
 * @typedef {Schemas["Notification"]} Notification
 * @typedef {Schemas["CannedResponse"]} CannedResponse
 * @typedef {Schemas["Interface"]} Interface
 * @typedef {Schemas["Agent"]} Agent
 * @typedef {Schemas["AgentRef"]} AgentRef
 * @typedef {Schemas["AgentAvailability"]["availability"]} Availability
 *
 * @typedef {import("../types/frames").ServerFrame} ServerFrame
 * @typedef {import("../types/frames").NotificationData} NotificationData
 */
export {};
