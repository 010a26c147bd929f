//! configurable-http-proxy adapter: the CHP REST client and the route reconciler.
