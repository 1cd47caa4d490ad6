"""Small per-nation word pools for the stand-in: names, streets, cities, states.

Pools are data, not logic: a few entries per list are enough for plausible users, and
keeping them small keeps the generator's import fast. Names in a non-Latin script carry
their transliteration after ``=`` (it is what the real API puts in the e-mail address).
"""

from __future__ import annotations

import unicodedata
from typing import Final

# Letters NFKD does not decompose into ASCII.
_FOLD = str.maketrans(
    {
        "ß": "ss",
        "ø": "o",
        "Ø": "O",
        "æ": "ae",
        "Æ": "AE",
        "đ": "d",
        "Đ": "D",
        "ı": "i",
        "ł": "l",
        "Ł": "L",
        "œ": "oe",
    }
)


def email_form(latin: str) -> str:
    """What the real API puts in e-mail addresses: ASCII, lower case, no spaces or quotes."""
    folded = unicodedata.normalize("NFKD", latin.translate(_FOLD))
    ascii_only = folded.encode("ascii", "ignore").decode()
    return ascii_only.replace(" ", "").replace("'", "").lower()


# nat -> (country, male first, female first, last, streets, cities, states)
_RAW: Final[dict[str, tuple[str, str, str, str, str, str, str]]] = {
    "AU": (
        "Australia",
        "Jack,Noah,Liam,William,Lucas,Oliver,Thomas,Ethan,Cooper,Riley,Harvey,Mason",
        "Charlotte,Olivia,Mia,Isla,Ava,Chloe,Zoe,Ella,Sophie,Ruby,Grace,Madison",
        "Smith,Jones,Williams,Brown,Wilson,Taylor,Johnson,White,Martin,Anderson,Thompson,Walker",
        "George St,Victoria Road,Park Road,Queen Street,Bay Ave,Hunter St,Albert Road,Main Road",
        "Wollongong,Geelong,Newcastle,Bendigo,Cairns,Ballarat,Toowoomba,Darwin,Hobart,Albury",
        "New South Wales,Victoria,Queensland,South Australia,Tasmania,Western Australia,"
        "Australian Capital Territory,Northern Territory",
    ),
    "BR": (
        "Brazil",
        "Adão,Antônio,Bernardo,Caio,Davi,Enzo,Guilherme,Heitor,Jaime,Lauro,Otávio,Vicente",
        "Alícia,Beatriz,Cecília,Débora,Eliza,Fabiana,Giovana,Helena,Iara,Lívia,Marta,Yara",
        "Silva,Santos,Oliveira,Souza,Pereira,Costa,Rodrigues,Almeida,Nascimento,Lima,Araújo,Moreira",
        "Rua Sete de Setembro,Rua Principal,Rua Dois,Rua São Paulo ,Rua Belo Horizonte,"
        "Rua Castro Alves,Rua Rio de Janeiro,Rua Vinte e Dois",
        "Cabo Frio,Anápolis,Maringá,Niterói,Petrópolis,Sorocaba,Santarém,Uberlândia,Macapá",
        "Paraná,Bahia,Minas Gerais,São Paulo,Pernambuco,Goiás,Ceará,Amapá,Rio Grande do Sul",
    ),
    "CA": (
        "Canada",
        "Liam,Logan,Nathan,Félix,Jacob,Owen,Samuel,Benjamin,Zachary,Charles,Xavier,Dylan",
        "Chloe,Léa,Emma,Maëlle,Abigail,Olivia,Florence,Charlotte,Juliette,Sarah,Rose,Alice",
        "Roy,Gagnon,Tremblay,Côté,Martin,Lavoie,Fortin,Gauthier,Morin,Singh,Smith,Brown",
        "Parliament St,King St,Duke St,Dufferin St,Pine Rd,Victoria Ave,Bay Ave,Queen St",
        "Vaughan,Laval,Selkirk,Burlington,Shelbourne,Chipman,Kingston,Cochrane,Brockton",
        "Ontario,Québec,Manitoba,Alberta,Nova Scotia,New Brunswick,British Columbia,Saskatchewan",
    ),
    "CH": (
        "Switzerland",
        "Lorenzo,Nicolas,Jonathan,Bastien,Rémi,Mathis,Noah,Luca,Elias,Marco,Simon,Yves",
        "Mia,Léna,Emma,Noémie,Zoé,Laura,Chloé,Sophie,Jana,Anna,Lea,Nathalie",
        "Muller,Meier,Schmid,Roux,Lefebvre,Fontaine,Bonnet,Gerard,Mercier,Dupont,Fabre,Perret",
        "Rue Abel-Gance,Place du 8 Novembre 1942,Rue de Gerland,Avenue Debourg,Rue Dumenge,"
        "Rue Chazière,Quai Chauveau,Rue des Abbesses",
        "Schaffhausen,Kriens,Lenzburg,Saint-Sulpice (Vd),Grabs,Oberhelfenschwil,Tramelan,Ollon",
        "Graubünden,Bern,Zürich,Vaud,Valais,Ticino,Luzern,Aargau,Basel-Landschaft,Genève",
    ),
    "DE": (
        "Germany",
        "Marten,Jens,Uwe,Detlef,Holger,Jürgen,Heinz-Dieter,Kai,Torsten,Friedhelm,Lennart,Matthias",
        "Erika,Helga,Anja,Karin,Lina,Heike,Jutta,Käthe,Marion,Ilka,Gundula,Svenja",
        "Faber,Müller,Schmitt,Krüger,Hoffmann,Ahrens,Böhm,Lorenz,Werner,Vogt,Köhler,Schäfer",
        "Grüner Weg,Lindenstraße,Bergstraße,Schulstraße,Gartenweg,Am Bahnhof,Mühlenweg,Kirchplatz",
        "Falkenberg/Elster,Bielefeld,Hameln,Görlitz,Wittenberg,Ravensburg,Kempten,Ilmenau,Goslar",
        "Thüringen,Bayern,Sachsen,Hessen,Niedersachsen,Bremen,Saarland,Berlin,Hamburg",
    ),
    "DK": (
        "Denmark",
        "Mikkel,Frederik,Oliver,Magnus,Aksel,Viktor,Rasmus,Emil,Storm,Malthe,Jonas,Lucas",
        "Ida,Freja,Laura,Signe,Mathilde,Clara,Karoline,Sofie,Nanna,Asta,Ellen,Liv",
        "Jensen,Nielsen,Hansen,Pedersen,Andersen,Christensen,Larsen,Sørensen,Rasmussen,Madsen",
        "Tværvej,Skovvej,Mølleengen,Kærvej,Kirkegade,Birkevej,Bøgevej,Hedevej,Vestergade",
        "Aarhus N,Kongsvinger,Sandved,Lemvig,Ryslinge,Ansager,Skovlunde,Københvn,Brøndby",
        "Sjælland,Midtjylland,Nordjylland,Hovedstaden,Syddanmark",
    ),
    "ES": (
        "Spain",
        "Hugo,Álvaro,Mario,Lorenzo,Ismael,Jesús,Marcos,Gonzalo,Raúl,Ricardo,Aitor,Pablo",
        "Lucía,María,Elena,Sofía,Nuria,Rocío,Aurora,Silvia,Inés,Esperanza,Carmen,Pilar",
        "García,Fernández,López,Martínez,Sánchez,Pérez,Gómez,Ruiz,Díaz,Moreno,Vidal,Lozano",
        "Calle de La Almudena,Calle de Alcalá,Avenida de Salamanca,Calle del Prado,"
        "Calle de Segovia,Paseo de Extremadura,Calle de Atocha,Calle Mayor",
        "Madrid,Gijón,Vigo,Córdoba,Valladolid,Santander,Alicante,Murcia,Palma de Mallorca",
        "Galicia,Andalucía,Aragón,Cataluña,Castilla y León,Comunidad de Madrid,Navarra,"
        "Canarias,Extremadura",
    ),
    "FI": (
        "Finland",
        "Eetu,Onni,Joel,Aleksi,Leevi,Elias,Veeti,Otto,Niilo,Kalle,Väinö,Arttu",
        "Aino,Ella,Venla,Sanni,Iida,Pihla,Siiri,Emilia,Aada,Jenna,Milla,Nelli",
        "Korhonen,Virtanen,Mäkinen,Nieminen,Heikkinen,Koskinen,Järvinen,Lehtonen,Saarinen,Niemi",
        "Hämeenkatu,Esplanadi,Mannerheimintie,Pyynikintie,Rautatienkatu,Aleksanterinkatu,"
        "Hatanpään Valtatie,Visiokatu",
        "Kotka,Loppi,Jämsä,Honkajoki,Kuopio,Utajärvi,Vantaa,Närpes,Sonkajärvi,Oulu",
        "Uusimaa,Lapland,Pirkanmaa,Kainuu,Ostrobothnia,Satakunta,Päijät-Häme,Tavastia Proper",
    ),
    "FR": (
        "France",
        "Mathéo,Lucas,Nathan,Gabriel,Théo,Maxime,Enzo,Clément,Hugo,Noa,Loïc,Baptiste",
        "Léa,Manon,Camille,Inès,Jade,Louise,Chloé,Océane,Lina,Margaux,Élise,Maëlys",
        "Dupont,Lefebvre,Moreau,Fontaine,Garnier,Mercier,Roux,Bernard,Petit,Girard,Perrin,Blanc",
        "Rue Louis-Garrand,Avenue Goerges-Clémenceau,Rue Principale,Rue du Moulin,Rue de la Mairie,"
        "Place du Château,Rue des Écoles,Quai Charles-de-Gaulle",
        "Nanterre,Rouen,Montpellier,Saint-Étienne,Brest,Limoges,Orléans,Nancy,Perpignan,Tours",
        "Aisne,Gironde,Loire,Ardèche,Hauts-de-Seine,Finistère,Haute-Vienne,Lot,Bas-Rhin,Somme",
    ),
    "GB": (
        "United Kingdom",
        "Harry,George,Jack,Oscar,Charlie,Alfie,Jake,Freddie,Samuel,Toby,Rhys,Callum",
        "Amelia,Isla,Poppy,Ellie,Jessica,Lily,Megan,Holly,Abbie,Millie,Evie,Charlotte",
        "Smith,Jones,Taylor,Davies,Evans,Thomas,Roberts,Walker,Wright,Hughes,Edwards,Green",
        "Mill Lane,Church Road,High Street,The Green,Park Lane,Manor Road,Kings Road,"
        "Victoria Street",
        "Leeds,Exeter,Stoke-on-Trent,Worcester,Bath,Preston,Carlisle,Wells,Inverness,Swansea",
        "Cumbria,Merseyside,Norfolk,Kent,Devon,Lothian,Dyfed,Tayside,Gwent,Essex",
    ),
    "IE": (
        "Ireland",
        "Cian,Seán,Conor,Darragh,Oisín,Liam,Ryan,Ciarán,Eoin,Patrick,Dylan,Colin",
        "Laura,Aoife,Siobhan,Niamh,Ciara,Emma,Róisín,Sinéad,Clodagh,Orla,Megan,Ella",
        "Woods,Murphy,Kelly,O'Sullivan,Walsh,Smith,O'Brien,Byrne,Ryan,O'Connor,Doyle,Lynch",
        "Henry Street,Grafton Street,Main Street,Church Street,The Grove,Strand Road,"
        "Patrick Street,Mill Road",
        "Blessington,Carlow,Tullamore,Mullingar,Kilkenny,Galway,Dundalk,Naas,Ennis,Tralee",
        "Wexford,Kerry,Clare,Meath,Cork,Galway,Longford,Wicklow,Cavan,Mayo",
    ),
    "IN": (
        "India",
        "Aarav,Vivaan,Aditya,Vihaan,Arjun,Sai,Reyansh,Ishaan,Krishna,Dhruv,"
        "आरव=Aarav,अर्जुन=Arjun,रोहन=Rohan",
        "Aadhya,Ananya,Diya,Pari,Saanvi,Myra,Ira,Anika,Kavya,Riya,सान्वी=Saanvi,दिया=Diya",
        "Sharma,Verma,Patel,Gupta,Reddy,Nair,Iyer,Kaur,Das,Chopra,शर्मा=Sharma,पटेल=Patel",
        "Mahatma Gandhi Rd,Nehru Rd,Station Rd,Lal Bahadur Shastri Marg,Tilak Rd,"
        "Subhash Chandra Bose Rd,Ashok Nagar,Park St",
        "Kochi,Jaipur,Nagpur,Vijayawada,Indore,Mysuru,Pune,Bhopal,Patna,Ludhiana",
        "Kerala,Rajasthan,Maharashtra,Andhra Pradesh,Madhya Pradesh,Karnataka,Bihar,Punjab,Goa",
    ),
    "IR": (
        "Iran",
        "آرمین=Armin,محمدطاها=Mohammadtaha,امیرعلی=Amirali,علی=Ali,رضا=Reza,حسین=Hossein,"
        "پارسا=Parsa,سینا=Sina,کیان=Kian,مهدی=Mahdi",
        "نازنین زهرا=Nazanin Zahra,فاطمه=Fatemeh,زهرا=Zahra,هستی=Hasti,یسنا=Yasna,"
        "ستایش=Setayesh,مریم=Maryam,نیایش=Niayesh,رها=Raha,آوا=Ava",
        "کریمی=Karimi,احمدی=Ahmadi,رضایی=Rezaei,محمدی=Mohammadi,حسینی=Hosseini,"
        "موسوی=Mousavi,جعفری=Jafari,صادقی=Sadeghi,نجاتی=Nejati,سلطانی=Soltani",
        "ولیعصر,شهید باهنر,میدان انقلاب,آزادی,شهید بهشتی,جمهوری اسلامی,کارگر شمالی,شریعتی",
        "تهران,مشهد,اصفهان,کرج,شیراز,تبریز,قم,اهواز,کرمانشاه,رشت",
        "تهران,خراسان رضوی,اصفهان,البرز,فارس,آذربایجان شرقی,قم,خوزستان,گیلان",
    ),
    "MX": (
        "Mexico",
        "Santiago,Mateo,Sebastián,Leonardo,Matías,Emiliano,Diego,Miguel Ángel,Iker,Rodrigo,Adrián",
        "Sofía,Valentina,Regina,Camila,Ximena,María José,Renata,Victoria,Fernanda,Guadalupe",
        "Hernández,García,Martínez,López,González,Rodríguez,Pérez,Sánchez,Ramírez,Flores,Cruz",
        "Calle Juárez,Avenida Hidalgo,Privada Morelos,Continuación Zaragoza,Cerrada Madero,"
        "Callejón Reforma,Avenida Benito Juárez,Calle Allende",
        "Puebla,Tlaquepaque,Ecatepec,Mérida,Chihuahua,Saltillo,Toluca,Morelia,Querétaro,Tijuana",
        "Jalisco,Puebla,Yucatán,Chihuahua,Coahuila,Estado de México,Michoacán,Querétaro,"
        "Baja California,Sonora",
    ),
    "NL": (
        "Netherlands",
        "Daan,Sem,Milan,Levi,Luuk,Bram,Thijs,Jesse,Stijn,Ruben,Joep,Teun",
        "Emma,Julia,Sophie,Tess,Zoë,Fenna,Sanne,Lotte,Femke,Anouk,Noor,Eva",
        "de Jong,Jansen,de Vries,van den Berg,van Dijk,Bakker,Visser,Smit,Meijer,de Boer,Mulder",
        "Kerkstraat,Schoolstraat,Molenweg,Dorpsstraat,Julianastraat,Nieuwstraat,Kastanjelaan,"
        "Beatrixstraat",
        "Amersfoort,Zwolle,Leiden,Dordrecht,Ede,Haarlem,Tilburg,Venlo,Heerlen,Assen",
        "Utrecht,Overijssel,Zuid-Holland,Gelderland,Noord-Holland,Noord-Brabant,Limburg,Drenthe",
    ),
    "NO": (
        "Norway",
        "Jakob,Emil,Noah,Oliver,Filip,William,Lucas,Mathias,Håkon,Ludvig,Sindre,Øyvind",
        "Nora,Emma,Sara,Sofie,Ingrid,Thea,Maja,Frida,Ida,Tuva,Solveig,Åse",
        "Hansen,Johansen,Olsen,Larsen,Andersen,Pedersen,Nilsen,Kristiansen,Berg,Haugen,Bakke",
        "Storgata,Kirkeveien,Skogveien,Fjordveien,Bakkeveien,Holmenveien,Eikeveien,Granstubben",
        "Oslo,Bergen,Kristiansand,Tromsø,Ålesund,Bodø,Hamar,Lillehammer,Molde,Harstad",
        "Oslo,Vestland,Agder,Troms og Finnmark,Møre og Romsdal,Nordland,Innlandet,Rogaland",
    ),
    "NZ": (
        "New Zealand",
        "Oliver,Jack,William,James,Noah,Hunter,Mason,Charlie,Leo,Riley,Nikau,Tama",
        "Olivia,Charlotte,Isla,Amelia,Harper,Mila,Ava,Aria,Ruby,Mia,Aroha,Anahera",
        "Wilson,Taylor,Brown,Williams,Smith,Walker,Harris,Thompson,Ngata,Tūhoe,Roberts,White",
        "Tay Street,Great North Road,Trafalgar Street,Karangahape Road,Moray Place,Jackson Street,"
        "Cuba Street,Dee Street",
        "Napier,Whanganui,Invercargill,Palmerston North,Rotorua,Nelson,Hamilton,Tauranga,Dunedin",
        "Otago,Waikato,Hawke'S Bay,Canterbury,Manawatu-Wanganui,Bay of Plenty,Nelson,Southland",
    ),
    "RS": (
        "Serbia",
        "Đorđe,Luka,Stefan,Nikola,Marko,Miloš,Dušan,Vuk,Милан=Milan,Немања=Nemanja,Урош=Uros",
        "Milica,Jovana,Teodora,Ana,Sara,Anđela,Katarina,Јелена=Jelena,Драгана=Dragana,"
        "Мирјана=Mirjana",
        "Jovanović,Petrović,Nikolić,Marković,Đorđević,Stojanović,Ilić,Stanković,"
        "Павловић=Pavlovic,Симић=Simic,Костић=Kostic",
        "Kneza Miloša,Bulevar kralja Aleksandra,Takovska,Cara Dušana,Njegoševa,Vojvode Stepe,"
        "Нушићева,Јована Цвијића",
        "Beograd,Novi Sad,Niš,Kragujevac,Subotica,Čačak,Kraljevo,Ужице,Ваљево,Пожаревац",
        "Centralna Srbija,Vojvodina,Beograd,Šumadija,Zlatibor,Колубара,Нишава",
    ),
    "TR": (
        "Turkey",
        "Yusuf,Eymen,Ömer,Mustafa,Emir,Kerem,Hamza,Burak,Çağan,Doruk,İbrahim,Kaan",
        "Zeynep,Elif,Defne,Eylül,Azra,Ecrin,Nehir,Şevval,Gül,İpek,Yağmur,Özge",
        "Yılmaz,Kaya,Demir,Şahin,Çelik,Yıldız,Yıldırım,Öztürk,Aydın,Özdemir,Arslan,Doğan",
        "Atatürk Sk,Kushimoto Sk,Maçka Cd,Bağdat Cd,Talak Göktepe Cd,Necatibey Cd,Vatan Cd,"
        "Abanoz Sk",
        "Bolu,Trabzon,Kayseri,Erzurum,Mersin,Eskişehir,Kahramanmaraş,Tekirdağ,Denizli,Sivas",
        "Bolu,Trabzon,Kayseri,Erzurum,Mersin,Eskişehir,Kahramanmaraş,Tekirdağ,Denizli,Sivas",
    ),
    "UA": (
        "Ukraine",
        "Ярослав=Yaroslav,Богдан=Bogdan,Тарас=Taras,Олег=Oleg,Мирослав=Miroslav,"
        "Святослав=Svyatoslav,Остап=Ostap,Дмитро=Dmitro,Назар=Nazar,Юрій=Yuriy",
        "Оксана=Oksana,Леся=Lesya,Ганна=Ganna,Соломія=Solomiya,Мирослава=Miroslava,"
        "Дарина=Darina,Злата=Zlata,Ірина=Irina,Віра=Vira,Стефанія=Stefaniya",
        "Шевченко=Shevchenko,Коваленко=Kovalenko,Бондаренко=Bondarenko,Ткаченко=Tkachenko,"
        "Кравчук=Kravchuk,Олійник=Oliynik,Мельник=Melnik,Ковальчук=Kovalchuk,Гнатюк=Gnatyuk",
        "Хрещатик,Шевченка,Лесі Українки,Грушевського,Садова,Набережна,Франка,Січових Стрільців",
        "Київ,Львів,Одеса,Харків,Дніпро,Житомир,Полтава,Чернігів,Ужгород,Тернопіль",
        "Київська,Львівська,Одеська,Харківська,Дніпропетровська,Житомирська,Полтавська,"
        "Чернігівська,Закарпатська",
    ),
    "US": (
        "United States",
        "James,Robert,Michael,William,David,Richard,Joseph,Thomas,Charles,Daniel,Brandon,Tyler",
        "Mary,Patricia,Jennifer,Linda,Elizabeth,Barbara,Susan,Jessica,Sarah,Karen,Ashley,Megan",
        "Smith,Johnson,Williams,Brown,Jones,Garcia,Miller,Davis,Rodriguez,Wilson,Moore,Jackson",
        "Washington Ave,Hamilton Ave,Pecan Acres Ln,Mockingbird Ln,Spring St,Cherry St,"
        "W Dallas St,Valley View Ln",
        "Allentown,Fresno,Dayton,Lubbock,Shreveport,Eugene,Tacoma,Salinas,Fargo,Reno",
        "Texas,Ohio,California,Florida,Oregon,Washington,Nevada,Kansas,Georgia,Iowa",
    ),
}

NATS: Final[tuple[str, ...]] = tuple(sorted(_RAW))


def _names(raw: str) -> tuple[tuple[str, str], ...]:
    """``"native=latin"`` or ``"latin"`` entries as (shown, e-mail form) pairs."""
    out = []
    for entry in raw.split(","):
        shown, _, latin = entry.strip().partition("=")
        out.append((shown, email_form(latin or shown)))
    return tuple(out)


def _items(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(","))


class NationPool:
    """The word pools of one nation, split once at import."""

    __slots__ = ("cities", "country", "female", "last", "male", "states", "streets")

    def __init__(self, raw: tuple[str, str, str, str, str, str, str]) -> None:
        country, male, female, last, streets, cities, states = raw
        self.country = country
        self.male = _names(male)
        self.female = _names(female)
        self.last = _names(last)
        self.streets = _items(streets)
        self.cities = _items(cities)
        self.states = _items(states)


POOLS: Final[dict[str, NationPool]] = {nat: NationPool(raw) for nat, raw in _RAW.items()}

FEMALE_TITLES: Final = ("Miss", "Mrs", "Ms")
FRENCH_FEMALE_TITLES: Final = ("Madame", "Mademoiselle")

TIMEZONES: Final[tuple[tuple[str, str], ...]] = (
    ("-12:00", "Eniwetok, Kwajalein"),
    ("-11:00", "Midway Island, Samoa"),
    ("-10:00", "Hawaii"),
    ("-9:00", "Alaska"),
    ("-8:00", "Pacific Time (US & Canada)"),
    ("-7:00", "Mountain Time (US & Canada)"),
    ("-6:00", "Central Time (US & Canada), Mexico City"),
    ("-5:00", "Eastern Time (US & Canada), Bogota, Lima"),
    ("-4:00", "Atlantic Time (Canada), Caracas, La Paz"),
    ("-3:30", "Newfoundland"),
    ("-3:00", "Brazil, Buenos Aires, Georgetown"),
    ("-2:00", "Mid-Atlantic"),
    ("-1:00", "Azores, Cape Verde Islands"),
    ("0:00", "Western Europe Time, London, Lisbon, Casablanca"),
    ("+1:00", "Brussels, Copenhagen, Madrid, Paris"),
    ("+2:00", "Kaliningrad, South Africa"),
    ("+3:00", "Baghdad, Riyadh, Moscow, St. Petersburg"),
    ("+3:30", "Tehran"),
    ("+4:00", "Abu Dhabi, Muscat, Baku, Tbilisi"),
    ("+4:30", "Kabul"),
    ("+5:00", "Ekaterinburg, Islamabad, Karachi, Tashkent"),
    ("+5:30", "Bombay, Calcutta, Madras, New Delhi"),
    ("+5:45", "Kathmandu"),
    ("+6:00", "Almaty, Dhaka, Colombo"),
    ("+7:00", "Bangkok, Hanoi, Jakarta"),
    ("+8:00", "Beijing, Perth, Singapore, Hong Kong"),
    ("+9:00", "Tokyo, Seoul, Osaka, Sapporo, Yakutsk"),
    ("+9:30", "Adelaide, Darwin"),
    ("+10:00", "Eastern Australia, Guam, Vladivostok"),
    ("+11:00", "Magadan, Solomon Islands, New Caledonia"),
    ("+12:00", "Auckland, Wellington, Fiji, Kamchatka"),
)

USERNAME_ADJECTIVES: Final = _items(
    "angry,big,black,blue,brown,crazy,golden,green,happy,heavy,lazy,orange,purple,red,"
    "sad,silver,small,tiny,beautiful,ticklish,organic,yellow,white,smart,sweet,goofy"
)
USERNAME_ANIMALS: Final = _items(
    "ostrich,fish,bear,bird,butterfly,cat,dog,duck,elephant,frog,goose,gorilla,koala,"
    "ladybug,leopard,lion,meercat,mouse,panda,peacock,rabbit,snake,swan,tiger,wolf,zebra"
)
PASSWORDS: Final = _items(
    "racers,123456,password,qwerty,dragon,baseball,monkey,letmein,football,shadow,master,"
    "superman,batman,trustno1,sunshine,iloveyou,princess,starwars,whatever,freedom,"
    "jennifer,hunter,cowboys,tigger,ginger,chelsea,snoopy,phoenix,samson,scooter,"
    "chicken,pepper,cookie,silver,rangers,mustang,purple,winter,summer,hello,chester"
)
