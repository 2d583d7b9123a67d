// Static code generation for the control-plane protobuf messages (proto/*.proto).
// Placeholder until the control plane lands: nothing to generate yet.
