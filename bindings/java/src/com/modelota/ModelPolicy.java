package com.modelota;

/**
 * Which version {@link Updater#getModel} leases, the C API's {@code ota_model_policy}
 * (docs/app-integration.md, "Phones: the in-process updater").
 */
public enum ModelPolicy {
  /** The version on the device now; nothing is fetched. Status "not-found" when none is. */
  LOCAL_ONLY(0),
  /**
   * The version on the device now, and one update cycle started in the background ({@link
   * Updater#awaitBackground} waits for it). With nothing installed yet, as {@link #LATEST}.
   */
  LOCAL_THEN_BACKGROUND(1),
  /** Runs an update cycle first (the call waits for it), then leases the version active. */
  LATEST(2);

  final int code;

  ModelPolicy(int code) {
    this.code = code;
  }
}
