//! Error scopes that answer at once.
//!
//! wgpu-core answers a scope's pop synchronously, so on native backends each
//! call that can fail validation is checked as it is made and its error is
//! typed on the spot. A browser answers only after control returns to the
//! page, which a synchronous call cannot wait for; there no scope is pushed,
//! and errors go to the device's uncaptured-error list, which the next
//! [`Device::check`](crate::Device::check) (every dispatch, flush and
//! readback) reports.

/// One pushed error scope (none in a browser).
pub(crate) struct Scope {
    #[cfg(not(target_arch = "wasm32"))]
    guard: wgpu::ErrorScopeGuard,
}

impl Scope {
    pub(crate) fn push(device: &wgpu::Device, filter: wgpu::ErrorFilter) -> Scope {
        #[cfg(not(target_arch = "wasm32"))]
        return Scope {
            guard: device.push_error_scope(filter),
        };
        #[cfg(target_arch = "wasm32")]
        {
            let _ = (device, filter);
            Scope {}
        }
    }

    /// The error the scope caught, if any (always `None` in a browser, where
    /// errors arrive later through the uncaptured-error list).
    pub(crate) fn pop(self) -> Option<wgpu::Error> {
        #[cfg(not(target_arch = "wasm32"))]
        return pollster::block_on(self.guard.pop());
        #[cfg(target_arch = "wasm32")]
        None
    }
}

/// The compiler's messages for `module` (native backends answer at once; in a
/// browser compile errors arrive through the uncaptured-error list instead).
pub(crate) fn compilation_info(module: &wgpu::ShaderModule) -> wgpu::CompilationInfo {
    #[cfg(not(target_arch = "wasm32"))]
    return pollster::block_on(module.get_compilation_info());
    #[cfg(target_arch = "wasm32")]
    {
        let _ = module;
        wgpu::CompilationInfo { messages: vec![] }
    }
}
