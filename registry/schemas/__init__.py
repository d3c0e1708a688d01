"""The shapes of the `/v1` API, one module per resource: pydantic models that validate requests
and build responses, and (through `registry.api.openapi`) are the published schema. One
definition for all three. No Flask here: services may build these models too."""
