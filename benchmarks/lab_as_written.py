"""C1_W3_Lab_1 as the course wrote it (batch 32, the default), for the side-by-side benchmark:
load Fashion-MNIST, train the dense model and the 32/32 conv model for 5 epochs each,
evaluate both. Prints one JSON line: fit times and test accuracies.
"""

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402

start = time.perf_counter()
(training_images, training_labels), (test_images, test_labels) = (
    tf.keras.datasets.fashion_mnist.load_data()
)
training_images = training_images / 255.0
test_images = test_images / 255.0

dense = tf.keras.models.Sequential(
    [
        tf.keras.Input(shape=(28, 28)),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(128, activation="relu"),
        tf.keras.layers.Dense(10, activation="softmax"),
    ]
)


def fit_and_test(model) -> tuple[float, float]:
    """The lab's compile, fit (5 epochs, Keras's default batch of 32) and evaluate."""
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    t = time.perf_counter()
    model.fit(training_images, training_labels, epochs=5, verbose=0)
    return time.perf_counter() - t, model.evaluate(test_images, test_labels, verbose=0)[1]


dense_fit, dense_acc = fit_and_test(dense)

conv = tf.keras.models.Sequential(
    [
        tf.keras.Input(shape=(28, 28, 1)),
        tf.keras.layers.Conv2D(32, (3, 3), activation="relu"),
        tf.keras.layers.MaxPooling2D(2, 2),
        tf.keras.layers.Conv2D(32, (3, 3), activation="relu"),
        tf.keras.layers.MaxPooling2D(2, 2),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(128, activation="relu"),
        tf.keras.layers.Dense(10, activation="softmax"),
    ]
)
conv_fit, conv_acc = fit_and_test(conv)
print(
    json.dumps(
        {
            "dense_fit_s": dense_fit,
            "dense_test_acc": dense_acc,
            "conv_fit_s": conv_fit,
            "conv_test_acc": conv_acc,
            "total_s": time.perf_counter() - start,
        }
    )
)
