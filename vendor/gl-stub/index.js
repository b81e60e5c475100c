// tsgrad replaces gpu.js's optional native `gl` dependency with this stub so that `npm ci` never hangs
// building ANGLE or needs X11 headers. gpu.js then reports the headlessgl backend as unavailable.
throw new Error('headless GL not installed: tsgrad ships a stub for the native `gl` module. ' +
  'To use the headlessgl device, run `npm install --no-save gl@8.1.6` (needs X11 dev headers and Xvfb).');
