"""The products people ask about in the tests' stories."""

PRODUCTS = [
    "a portable Bluetooth speaker",
    "a new ergonomic office chair",
    "a stainless steel water bottle",
    "a mechanical keyboard",
    "a robot vacuum cleaner",
    "a pair of trail running shoes",
    "a cast iron skillet",
    "a smart LED desk lamp",
    "a waterproof hiking backpack",
    "an electric kettle",
]
