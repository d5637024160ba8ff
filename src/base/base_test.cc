#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <set>

#include "base/buffer_pool.h"
#include "base/crypto.h"
#include "base/result.h"
#include "base/xml.h"

namespace ferry::base {

TEST(Crypto, Md5MatchesKnownVector) {
  EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_hex("hello"), "5d41402abc4b2a76b9719d911017c592");
  Md5 m;
  m.update("hel");
  m.update("lo");
  EXPECT_EQ(m.finish_hex(), "5d41402abc4b2a76b9719d911017c592");
}

TEST(Crypto, Sha256MatchesKnownVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Crypto, Base64RoundTripsAndRejectsGarbage) {
  EXPECT_EQ(base64_encode("hello"), "aGVsbG8=");
  EXPECT_EQ(base64_decode("aGVsbG8=").value(), "hello");
  EXPECT_EQ(base64_decode("aGVsbA==").value(), "hell");
  EXPECT_EQ(base64_decode("").value(), "");
  EXPECT_FALSE(base64_decode("aGVsbG8").has_value());
  EXPECT_FALSE(base64_decode("aG!sbG8=").has_value());
  EXPECT_FALSE(base64_decode("a=Vs").has_value());
  EXPECT_FALSE(base64_decode("aGV=bG8=").has_value());  // padding before the last quad
  EXPECT_FALSE(base64_decode("aGVsbG=8").has_value());
  EXPECT_FALSE(base64_decode("====").has_value());
  for (const char* bad : {"aGVsbG8", "aG!sbG8=", "a=Vs", "aGV=bG8=", "aGVsbG=8", "===="}) {
    EXPECT_FALSE(base64_valid(bad)) << bad;
  }
  EXPECT_FALSE(base64_decode("aGVs\x80G8=").has_value());
  // Every length and every byte value round-trips, and the encoder agrees with OpenSSL's.
  std::string data;
  for (int i = 0; i < 600; ++i) {
    data.push_back(static_cast<char>((i * 37 + 11) & 0xff));
    std::string expected(4 * ((data.size() + 2) / 3), '\0');
    EVP_EncodeBlock(reinterpret_cast<unsigned char*>(expected.data()),
                    reinterpret_cast<const unsigned char*>(data.data()),
                    static_cast<int>(data.size()));
    ASSERT_EQ(base64_encode(data), expected) << i;
    std::string appended = "x";
    base64_encode_append(appended, data);
    ASSERT_EQ(appended, "x" + expected) << i;
    auto decoded = base64_decode(base64_encode(data));
    ASSERT_TRUE(decoded.has_value()) << i;
    ASSERT_TRUE(base64_valid(base64_encode(data))) << i;
    ASSERT_EQ(*decoded, data) << i;
  }
}

TEST(Crypto, Base64JudgesEveryByteAtEveryPositionOfLongTexts) {
  // Long texts take the vector paths: every byte value, in the first and second 32-character
  // blocks and in the scalar tail, is accepted exactly when it is a digit, and decodes like
  // OpenSSL does.
  const std::string digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int c = 0; c < 256; ++c) {
    bool digit = digits.find(static_cast<char>(c)) != std::string::npos;
    for (size_t at : {0u, 5u, 31u, 32u, 47u, 63u, 64u, 66u}) {
      std::string text(68, 'Q');
      text[at] = static_cast<char>(c);
      ASSERT_EQ(base64_valid(text), digit) << c << " at " << at;
      auto decoded = base64_decode(text);
      ASSERT_EQ(decoded.has_value(), digit) << c << " at " << at;
      if (!digit) continue;
      std::string expected(51, '\0');
      ASSERT_EQ(EVP_DecodeBlock(reinterpret_cast<unsigned char*>(expected.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), 68),
                51);
      ASSERT_EQ(*decoded, expected) << c << " at " << at;
    }
  }
  std::string padded = base64_encode(std::string(100, '\x5a'));  // ends "==" after 132 digits
  ASSERT_TRUE(base64_decode(padded).has_value());
  padded[40] = '=';
  EXPECT_FALSE(base64_decode(padded).has_value());
  EXPECT_FALSE(base64_valid(padded));
}

TEST(BufferPool, BigStringsAreReusedSmallOnesAreNot) {
  std::string big = take_buffer(1 << 20);
  ASSERT_GE(big.capacity(), 1u << 20);
  big = "some content";
  const char* memory = big.data();
  give_back_buffer(std::move(big));
  std::string again = take_buffer(1000 * 1000);
  EXPECT_EQ(again.data(), memory);  // the same block, emptied
  EXPECT_TRUE(again.empty());
  std::string small = take_buffer(100);
  EXPECT_NE(small.data(), memory);
  {
    PooledBuffer pooled = take_pooled_buffer(0);
    *pooled = std::move(again);
  }  // dropped: back in the pool
  EXPECT_EQ(take_buffer(1 << 20).data(), memory);
}

TEST(Crypto, Uuid4HasVersionAndVariant) {
  std::string u = uuid4();
  ASSERT_EQ(u.size(), 36u);
  EXPECT_EQ(u[14], '4');
  EXPECT_TRUE(u[19] == '8' || u[19] == '9' || u[19] == 'a' || u[19] == 'b');
  EXPECT_NE(uuid4(), u);
  for (size_t i : {8u, 13u, 18u, 23u}) EXPECT_EQ(u[i], '-') << u;
  for (char c : u) {
    bool lower_hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    EXPECT_TRUE(c == '-' || lower_hex) << u;
  }
}

TEST(Xml, EscapesSpecialCharacters) {
  XmlWriter w;
  w.open("A", "ns");
  w.leaf("B", "<&>\"'");
  w.close();
  EXPECT_EQ(w.str(), "<?xml version=\"1.0\"?><A xmlns=\"ns\"><B>&lt;&amp;&gt;&quot;&apos;</B></A>");
}

TEST(Result, HoldsValueOrError) {
  Result<int, std::string> a = 3;
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, 3);
  Result<int, std::string> b = fail(std::string("bad"));
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error(), "bad");
}

}  // namespace ferry::base

namespace ferry::base {

TEST(Crypto, HmacSha256MatchesRfc4231AndSwitchesKeys) {
  // RFC 4231 test case 2.
  EXPECT_EQ(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // The same key again (context reused), another key, then back.
  EXPECT_EQ(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_NE(hmac_sha256("other", "what do ya want for nothing?"),
            hmac_sha256("Jefe", "what do ya want for nothing?"));
  EXPECT_EQ(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Crypto, RandomBytesDoNotRepeatAcrossPoolRefills) {
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {  // 32 KiB: several refills of the per-thread pool
    uint8_t b[16];
    random_bytes(b, sizeof b);
    EXPECT_TRUE(seen.insert(to_hex(b, sizeof b)).second);
  }
  uint8_t big[8192];
  random_bytes(big, sizeof big);  // larger than the pool: drawn directly
  EXPECT_NE(to_hex(big, 16), to_hex(big + 16, 16));
}

}  // namespace ferry::base
