package com.modelota;

/**
 * Download progress of {@link Updater#update}. It is called on the thread that called {@code
 * update}, never on another one, so it must return quickly: post to the UI thread from it rather
 * than drawing in it. It may call {@link Updater#cancel}. An exception it throws stops the update
 * (as a cancel does) and is the one {@code update} then throws.
 */
@FunctionalInterface
public interface ProgressListener {
  /**
   * @param model the model being downloaded
   * @param done bytes on disk so far, including those kept from an earlier, cancelled call
   * @param total the bytes of the whole download
   */
  void onProgress(String model, long done, long total);
}
